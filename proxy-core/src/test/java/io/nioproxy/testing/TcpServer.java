package io.nioproxy.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real blocking TCP backend on 127.0.0.1 for tests: a thread per connection running {@link Behaviour}. Counts
 * connections and closes every socket it opened on {@link #close}.
 */
public final class TcpServer implements AutoCloseable {
    /** What the server does with each accepted socket. */
    public interface Behaviour {
        void serve(Socket socket) throws IOException;
    }

    private final ServerSocket server;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final AtomicInteger accepted = new AtomicInteger();
    private final Thread acceptThread;
    private volatile boolean closed;

    public TcpServer(Behaviour behaviour) throws IOException {
        this(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), behaviour);
    }

    /** A server on a given address (to restart a backend on the same port, or use another loopback IP). */
    public TcpServer(InetSocketAddress bind, Behaviour behaviour) throws IOException {
        server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(bind, 512);
        acceptThread = new Thread(() -> {
            while (!closed) {
                try {
                    Socket s = server.accept();
                    accepted.incrementAndGet();
                    open.add(s);
                    Thread t = new Thread(() -> {
                        try {
                            behaviour.serve(s);
                        } catch (IOException e) {
                            // the peer went away: part of what tests do
                        } finally {
                            open.remove(s);
                            try {
                                s.close();
                            } catch (IOException ignored) {
                                // closing anyway
                            }
                        }
                    }, "test-backend-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }, "test-backend-accept");
        acceptThread.setDaemon(true);
        acceptThread.start();
    }

    /** Echoes every byte back; half-closes its output when the input ends. */
    public static TcpServer echo() throws IOException {
        return new TcpServer(s -> {
            s.setTcpNoDelay(true);
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            byte[] buf = new byte[65536];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            s.shutdownOutput();
        });
    }

    /** Writes "NAME\n" on connect, then echoes. */
    public static TcpServer named(String name) throws IOException {
        return named(name, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }

    public static TcpServer named(String name, InetSocketAddress bind) throws IOException {
        byte[] hello = (name + "\n").getBytes(StandardCharsets.US_ASCII);
        return new TcpServer(bind, s -> {
            OutputStream out = s.getOutputStream();
            out.write(hello);
            out.flush();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
        });
    }

    public int port() {
        return server.getLocalPort();
    }

    public String address() {
        return server.getInetAddress().getHostAddress() + ":" + port();
    }

    public int accepted() {
        return accepted.get();
    }

    public int openConnections() {
        return open.size();
    }

    /** Stops accepting (health checks fail) but keeps the connections already open. */
    public void closeListenerOnly() throws IOException {
        closed = true;
        server.close();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : open) {
            s.close();
        }
    }
}
