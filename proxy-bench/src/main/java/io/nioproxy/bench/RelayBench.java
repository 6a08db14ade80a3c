package io.nioproxy.bench;

import io.nioproxy.Proxy;
import io.nioproxy.config.Settings;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * One request/response round trip through a running balancer over loopback sockets: client → balancer → echo
 * backend → balancer → client, on an open session. The relay's whole per-message cost (four syscalls in the balancer
 * plus the select) next to what a direct round trip costs ({@code direct}), so the difference is the balancer's.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m", "--enable-native-access=ALL-UNNAMED"})
public class RelayBench {
    @Param({"64", "4096"})
    int size;

    /** proxy.io: auto (epoll on JDK 22+ on Linux), or nio / epoll to compare them ({@code -p io=nio,epoll} on JDK 25). */
    @Param({"auto"})
    String io;

    ServerSocket echoServer;
    Thread echoThread;
    Proxy proxy;
    Socket viaProxy;
    Socket direct;
    byte[] out;
    byte[] in;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        echoServer = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        echoThread = new Thread(() -> {
            while (!echoServer.isClosed()) {
                try {
                    Socket s = echoServer.accept();
                    s.setTcpNoDelay(true);
                    Thread t = new Thread(() -> {
                        byte[] buf = new byte[65536];
                        try (s) {
                            InputStream i = s.getInputStream();
                            OutputStream o = s.getOutputStream();
                            int n;
                            while ((n = i.read(buf)) > 0) {
                                o.write(buf, 0, n);
                            }
                        } catch (IOException ignored) {
                            // closing
                        }
                    });
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        echoThread.setDaemon(true);
        echoThread.start();
        Properties p = new Properties();
        p.setProperty("proxy.listen", "127.0.0.1:0");
        p.setProperty("proxy.workers", "1");
        p.setProperty("proxy.io", io);
        p.setProperty("proxy.backends", "127.0.0.1:" + echoServer.getLocalPort());
        proxy = Proxy.start(Settings.from(p).build());
        viaProxy = new Socket(InetAddress.getLoopbackAddress(), proxy.listeners().get(0).boundAddress().getPort());
        viaProxy.setTcpNoDelay(true);
        direct = new Socket(InetAddress.getLoopbackAddress(), echoServer.getLocalPort());
        direct.setTcpNoDelay(true);
        out = new byte[size];
        in = new byte[size];
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        viaProxy.close();
        direct.close();
        proxy.close();
        echoServer.close();
    }

    @Benchmark
    public int throughBalancer() throws IOException {
        return roundTrip(viaProxy);
    }

    @Benchmark
    public int direct() throws IOException {
        return roundTrip(direct);
    }

    private int roundTrip(Socket s) throws IOException {
        s.getOutputStream().write(out);
        InputStream i = s.getInputStream();
        int off = 0;
        while (off < size) {
            int n = i.read(in, off, size - off);
            if (n < 0) {
                throw new IOException("closed");
            }
            off += n;
        }
        return in[0];
    }
}
