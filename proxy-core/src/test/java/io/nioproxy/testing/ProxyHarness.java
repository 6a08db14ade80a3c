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
 * Starts balancers and backends for one test and checks, when it closes, that nothing was left behind: no session
 * and no pooled buffer in use once the test's clients have gone — checked while its backends still run, so that a
 * session stuck after its client left is found rather than ended by the harness closing the backend — then no
 * socket descriptor more than before the test (none of slack: a leaked socket is a leak), the process's other
 * descriptors back within a little of where they were (the JDK opens jars and files lazily), and no thread of a
 * balancer still running.
 */
public final class ProxyHarness implements AutoCloseable {
    private final List<Proxy> proxies = new ArrayList<>();
    private final List<AutoCloseable> others = new ArrayList<>();
    private final java.util.Set<Integer> foreignPorts = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final long fdBaseline = openFds();
    private final long socketBaseline = openSockets(java.util.Set.of());

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

    /**
     * A loopback port free a moment ago, for a listener that must be given its port up front (a child JVM's, etcd's).
     * Taken below the kernel's ephemeral range ({@code ip_local_port_range}, 32768 and up by default), so no outgoing
     * connection of any process can be given it between this call and the bind; and never the same one twice in a run.
     */
    public static synchronized int freePort() throws IOException {
        if (FIRST_EPHEMERAL - FIRST_PORT < 1000) { // a host whose ephemeral range starts low: let the kernel choose
            try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            }
        }
        int span = FIRST_EPHEMERAL - FIRST_PORT;
        int start = java.util.concurrent.ThreadLocalRandom.current().nextInt(span);
        for (int i = 0; i < span; i++) {
            int port = FIRST_PORT + (start + i) % span;
            if (HANDED_OUT.contains(port)) {
                continue;
            }
            try (java.net.ServerSocket s = new java.net.ServerSocket()) {
                s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
            } catch (IOException inUse) {
                continue;
            }
            HANDED_OUT.add(port);
            return port;
        }
        throw new IOException("no free loopback port in " + FIRST_PORT + "-" + (FIRST_EPHEMERAL - 1));
    }

    private static final int FIRST_EPHEMERAL = firstEphemeralPort();
    private static final int FIRST_PORT = Math.max(10_000, FIRST_EPHEMERAL - 12_768);

    private static int firstEphemeralPort() {
        try {
            String range = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range"));
            return Integer.parseInt(range.trim().split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return 32_768; // Linux's default
        }
    }
    private static final java.util.Set<Integer> HANDED_OUT = new java.util.HashSet<>();

    /** Reads one '\n'-terminated line (the name a {@link TcpServer#named} backend sends). */
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
            assertIdle(); // backends still running: a session the test's clients left behind is not ended for it
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
        long[] sockets = {0};
        try {
            await("socket descriptors back to baseline " + socketBaseline, Duration.ofSeconds(10), () -> {
                sockets[0] = openSockets(foreignPorts);
                return sockets[0] <= socketBaseline;
            });
        } catch (AssertionError e) {
            throw new AssertionError("socket leak: " + sockets[0] + " open, " + socketBaseline + " before the test: "
                    + describeSockets(), e);
        }
        // Other descriptors: back to the baseline, allowing a little for files the JDK opens lazily (jar, random).
        long[] last = {0};
        try {
            await("descriptors back to baseline " + fdBaseline, Duration.ofSeconds(10), () -> {
                last[0] = openFds() - (foreignPorts.isEmpty() ? 0 : openSockets(java.util.Set.of()) - openSockets(foreignPorts));
                return last[0] <= fdBaseline + 2;
            });
        } catch (AssertionError e) {
            throw new AssertionError("descriptor leak: " + last[0] + " open, baseline " + fdBaseline + ": "
                    + describeDescriptors(), e);
        }
        if (!proxies.isEmpty()) {
            try {
                await("the balancers' threads ended", Duration.ofSeconds(10), () -> balancerThreads().isEmpty());
            } catch (AssertionError e) {
                throw new AssertionError("threads left running: " + balancerThreads(), e);
            }
        }
    }

    /**
     * Sockets on local {@code port} are a test backend's own, not the balancer's: not counted in the leak check.
     * For a backend library that does not close every socket it accepted when stopped (Java-WebSocket's server
     * leaves connections cut during their handshake in CLOSE_WAIT).
     */
    public void ignoreSocketsOnPort(int port) {
        foreignPorts.add(port);
    }

    /**
     * TCP socket descriptors of this process: {@code /proc/self/fd} entries that link to a {@code socket:[inode]}
     * listed in {@code /proc/net/tcp} or {@code tcp6}, except those whose local port is in {@code ignoredPorts}.
     * Unix-domain sockets the C library opens for itself (name service lookups) are not the balancer's and are not
     * counted.
     */
    public static long openSockets(java.util.Set<Integer> ignoredPorts) {
        return openSockets("/proc/self", ignoredPorts);
    }

    /** {@link #openSockets(java.util.Set)} of another process: {@code proc} is its {@code /proc/<pid>}. */
    public static long openSockets(String proc, java.util.Set<Integer> ignoredPorts) {
        java.io.File[] fds = new java.io.File(proc + "/fd").listFiles();
        if (fds == null) {
            return -1;
        }
        java.util.Set<String> tcp = new java.util.HashSet<>();
        for (String table : new String[] {"tcp", "tcp6"}) {
            try {
                // the process's own network namespace: a child in a namespace the test made has its own table
                for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of(proc + "/net/" + table))) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length > 9 && f[1].contains(":") && !f[0].startsWith("sl")) {
                        int port = Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1), 16);
                        if (!ignoredPorts.contains(port)) {
                            tcp.add(f[9]);
                        }
                    }
                }
            } catch (IOException e) {
                return -1;
            }
        }
        long n = 0;
        for (java.io.File fd : fds) {
            try {
                String target = java.nio.file.Files.readSymbolicLink(fd.toPath()).toString();
                if (target.startsWith("socket:[") && tcp.contains(target.substring(8, target.length() - 1))) {
                    n++;
                }
            } catch (IOException | UnsupportedOperationException e) {
                // closed while listed
            }
        }
        return n;
    }

    /** What each descriptor of the process is (for a leak's message). */
    private static String describeDescriptors() {
        StringBuilder sb = new StringBuilder();
        java.io.File[] fds = new java.io.File("/proc/self/fd").listFiles();
        for (java.io.File fd : fds == null ? new java.io.File[0] : fds) {
            try {
                sb.append(' ').append(fd.getName()).append('=').append(java.nio.file.Files.readSymbolicLink(fd.toPath()));
            } catch (IOException | RuntimeException e) {
                // closed while listed
            }
        }
        return sb.toString();
    }

    /** The process's sockets with what {@code /proc/net} says of each (for a leak's message). */
    private static String describeSockets() {
        StringBuilder sb = new StringBuilder();
        java.io.File[] fds = new java.io.File("/proc/self/fd").listFiles();
        for (java.io.File fd : fds == null ? new java.io.File[0] : fds) {
            try {
                String target = java.nio.file.Files.readSymbolicLink(fd.toPath()).toString();
                if (!target.startsWith("socket:[")) {
                    continue;
                }
                String inode = target.substring(8, target.length() - 1);
                sb.append(" fd ").append(fd.getName()).append('=').append(target);
                for (String table : new String[] {"tcp", "tcp6", "udp", "udp6", "unix", "netlink"}) {
                    for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/net/" + table))) {
                        if ((" " + line + " ").contains(" " + inode + " ")) {
                            sb.append(" [").append(table).append(": ").append(line.trim()).append(']');
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // closed while listed
            }
        }
        return sb.toString();
    }

    /** Live threads a balancer starts (loops, control, health checks, admin, access log). */
    private static List<String> balancerThreads() {
        List<String> names = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && t.getName().startsWith("nioproxy-") && !t.getName().startsWith("nioproxy-warmup")) {
                names.add(t.getName());
            }
        }
        return names;
    }
}
