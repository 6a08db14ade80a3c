package io.nioproxy.testing;

import io.nioproxy.Proxy;
import io.nioproxy.config.Settings;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Starts balancers and backends for one test and checks, when it closes, that nothing was left behind: no
 * session, no pooled buffer in use, no socket (the process's descriptor count back to where it was).
 */
public final class ProxyHarness implements AutoCloseable {
    private final List<Proxy> proxies = new ArrayList<>();
    private final List<AutoCloseable> others = new ArrayList<>();
    private final long fdBaseline = openFds();

    /** Starts a balancer on 127.0.0.1 (ephemeral port) with {@code keyValues} as proxy.* settings. */
    public Proxy start(String... keyValues) {
        Properties p = new Properties();
        p.setProperty(Settings.LISTEN.property(), "127.0.0.1:0");
        p.setProperty(Settings.WORKERS.property(), "2");
        for (int i = 0; i < keyValues.length; i += 2) {
            p.setProperty(keyValues[i], keyValues[i + 1]);
        }
        var config = Settings.from(p).build();
        String expected = System.getProperty("nioproxy.test.expect.io");
        if (expected != null && !p.containsKey("proxy.io")
                && !config.io().name().equalsIgnoreCase(expected)) {
            // the epoll-mode run of the suite must not pass by quietly running java.nio
            throw new AssertionError("this run expects proxy.io=" + expected + " by default, got " + config.io());
        }
        Proxy proxy = Proxy.start(config);
        proxies.add(proxy);
        return proxy;
    }

    public <T extends AutoCloseable> T add(T closeable) {
        others.add(closeable);
        return closeable;
    }

    public static int port(Proxy proxy) {
        return proxy.listeners().get(0).boundAddress().getPort();
    }

    /** A client socket to the balancer, bound to {@code source} (a 127.x.y.z address). */
    public static Socket connect(Proxy proxy, String source) throws IOException {
        Socket s = new Socket();
        if (source != null) {
            s.bind(new InetSocketAddress(source, 0));
        }
        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port(proxy)), 5000);
        s.setSoTimeout(20_000);
        s.setTcpNoDelay(true);
        return s;
    }

    /** Reads one '\n'-terminated line (the name a {@link TcpServer#named} backend sends). */
    /** A loopback port free a moment ago, for a listener that must be given its port up front (a child JVM's). */
    public static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0 && c != '\n') {
            sb.append((char) c);
        }
        if (c < 0 && sb.length() == 0) {
            return null;
        }
        return new String(sb.toString().getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.US_ASCII);
    }

    /** The next byte, or -1 at the end of the stream — a reset counts as an end too (both are a closed session). */
    public static int readOrReset(Socket s) throws IOException {
        s.setSoTimeout(5000);
        try {
            return s.getInputStream().read();
        } catch (java.net.SocketException reset) {
            return -1;
        }
    }

    public static void await(String what, Duration within, BooleanSupplier condition) {
        long deadline = System.nanoTime() + within.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out after " + within + " waiting for: " + what);
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted");
            }
        }
    }

    public static long openFds() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.UnixOperatingSystemMXBean u ? u.getOpenFileDescriptorCount() : -1;
    }

    /** Asserts every balancer has no session and no buffer in use (after the test's clients closed). */
    public void assertIdle() {
        for (Proxy p : proxies) {
            await("sessions closed and buffers returned (sessions=" + p.sessions() + ", buffers=" + p.buffersInUse() + ")",
                    Duration.ofSeconds(10), () -> p.sessions() == 0 && p.buffersInUse() == 0);
        }
    }

    @Override
    public void close() throws Exception {
        try {
            for (AutoCloseable c : others) {
                c.close();
            }
            assertIdle();
        } finally {
            for (Proxy p : proxies) {
                p.close();
            }
        }
        for (Proxy p : proxies) {
            assertEquals(0, p.sessions(), "sessions after close");
            assertEquals(0, p.buffersInUse(), "buffers after close");
        }
        // Descriptors: back to the baseline, allowing a little for files the JDK opens lazily (jar, random).
        long[] last = {0};
        try {
            await("descriptors back to baseline " + fdBaseline, Duration.ofSeconds(10), () -> {
                last[0] = openFds();
                return last[0] <= fdBaseline + 2;
            });
        } catch (AssertionError e) {
            throw new AssertionError("descriptor leak: " + last[0] + " open, baseline " + fdBaseline, e);
        }
    }
}
