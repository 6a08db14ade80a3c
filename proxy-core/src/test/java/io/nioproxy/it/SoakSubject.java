package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The balancer a soak runs against, in one of two forms. In this JVM ({@link InProcess}, the suite's form) the
 * harness checks sessions, buffers, sockets and threads at the end, but RSS and descriptors are the whole test JVM's.
 * In a child JVM ({@link Child}, the long run's form: {@code nioproxy.soak.child=true}) the samples are the balancer's
 * own: its RSS, its descriptors, and its sessions and buffers read from its admin endpoint, as an operator would.
 * Either way it has two listeners, {@code tcp} and {@code ws}, and the same settings.
 */
interface SoakSubject extends AutoCloseable {
    /** The settings both forms run with, as {@code proxy.*} key/value pairs. */
    static List<String> settings(String tcpBackends, String wsBackends) {
        return List.of("proxy.listeners", "tcp,ws", "proxy.listener.tcp.backends", tcpBackends,
                "proxy.listener.ws.backends", wsBackends, "proxy.health.interval", "300ms",
                "proxy.health.timeout", "300ms", "proxy.health.fall", "2", "proxy.health.rise", "2",
                "proxy.health.holddown", "1s", "proxy.balance", "least-conn",
                // a killed backend library may leave a connection it accepted open and silent: such a half-closed
                // session ends at this timeout
                "proxy.halfclosed.timeout", "5s");
    }

    /** {@code nio} or {@code epoll}. */
    String mode();

    /** The port listener {@code name} accepts on. */
    int port(String name);

    /** Sessions open now. */
    long sessions() throws IOException;

    /** Pooled buffers held by sessions now. */
    long buffersInUse() throws IOException;

    /** Resident set size of the process the balancer runs in, KiB. */
    long rssKb();

    /** Descriptors of the process the balancer runs in. */
    long descriptors();

    /** Drain backend {@code address} of listener {@code tcp} with no deadline. */
    void drain(String address) throws IOException;

    /** Bring {@code address} back into listener {@code tcp}'s rotation. */
    void restore(String address) throws IOException;

    /** Backend {@code address}'s state label ({@code up}, {@code draining}...) in listener {@code tcp}. */
    String state(String address) throws IOException;

    /** Whether the balancer's process is this JVM. */
    boolean inProcess();

    /** What the balancer says of the session of the client on local port {@code clientPort} (for a diagnosis). */
    String describeSession(int clientPort);

    private static long statusKb(String proc, String field) {
        try {
            for (String l : Files.readAllLines(Path.of(proc, "status"))) {
                if (l.startsWith(field)) {
                    return Long.parseLong(l.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            // not Linux, or the process has gone
        }
        return -1;
    }

    private static long descriptorsOf(String proc) {
        String[] fds = Path.of(proc, "fd").toFile().list();
        return fds == null ? -1 : fds.length;
    }

    /** The balancer in this JVM, started by the test's harness. */
    final class InProcess implements SoakSubject {
        private final Proxy proxy;

        InProcess(ProxyHarness harness, String tcpBackends, String wsBackends) {
            List<String> kv = new ArrayList<>(settings(tcpBackends, wsBackends));
            kv.addAll(List.of("proxy.listener.tcp.listen", "127.0.0.1:0", "proxy.listener.ws.listen", "127.0.0.1:0"));
            proxy = harness.start(kv.toArray(String[]::new));
        }

        @Override
        public String mode() {
            return proxy.config().io().name().toLowerCase(Locale.ROOT);
        }

        @Override
        public int port(String name) {
            return proxy.listener(name).boundAddress().getPort();
        }

        @Override
        public long sessions() {
            return proxy.sessions();
        }

        @Override
        public long buffersInUse() {
            return proxy.buffersInUse();
        }

        @Override
        public long rssKb() {
            return statusKb("/proc/self", "VmRSS:");
        }

        @Override
        public long descriptors() {
            return ProxyHarness.openFds();
        }

        @Override
        public void drain(String address) {
            proxy.listener("tcp").registry().drain(address, Long.MAX_VALUE);
        }

        @Override
        public void restore(String address) {
            HostPortAddress a = HostPortAddress.of(address);
            proxy.listener("tcp").registry().add(new InetSocketAddress(a.host(), a.port()), 1, "soak");
        }

        @Override
        public String state(String address) {
            Backend b = proxy.listener("tcp").registry().find(address);
            return b == null ? "absent" : b.state().label();
        }

        @Override
        public boolean inProcess() {
            return true;
        }

        @Override
        public String describeSession(int clientPort) {
            // the fields /connections gives, in its form, so that a diagnosis reads both forms alike
            StringBuilder sb = new StringBuilder("[");
            proxy.snapshot(true, s -> s.clientAddress() != null && s.clientAddress().getPort() == clientPort).stream()
                    .flatMap(snap -> snap.sessions.stream()).forEach(r -> sb.append(sb.length() > 1 ? "," : "")
                            .append("{\"client\":\"").append(r.client()).append("\",\"backend\":\"").append(r.backend())
                            .append("\",\"backend_local\":\"").append(r.backendLocal()).append("\",\"state\":\"")
                            .append(r.state()).append("\",\"idle_seconds\":").append(r.idleMillis() / 1000.0)
                            .append(",\"bytes_up\":").append(r.bytesUp()).append(",\"bytes_down\":")
                            .append(r.bytesDown()).append('}'));
            return sb.append(']').toString();
        }

        @Override
        public void close() {
            // the harness closes it and checks what it left
        }
    }

    /** The balancer's own command line in a child JVM; read and steered through its admin endpoint. */
    final class Child implements SoakSubject {
        private static final Pattern SAMPLE = Pattern.compile("^(\\w+)(\\{[^}]*})? (\\S+)$", Pattern.MULTILINE);
        private final Process process;
        private final String proc;
        private final InetSocketAddress admin;
        private final int tcpPort;
        private final int wsPort;
        private final String mode;

        Child(String tcpBackends, String wsBackends) throws IOException {
            tcpPort = ProxyHarness.freePort();
            wsPort = ProxyHarness.freePort();
            admin = new InetSocketAddress(InetAddress.getLoopbackAddress(), ProxyHarness.freePort());
            List<String> jvm = new ArrayList<>(List.of("-Xmx256m"));
            List<String> kv = new ArrayList<>(settings(tcpBackends, wsBackends));
            kv.addAll(List.of("proxy.listener.tcp.listen", "127.0.0.1:" + tcpPort,
                    "proxy.listener.ws.listen", "127.0.0.1:" + wsPort, "proxy.admin", "127.0.0.1:" + admin.getPort()));
            for (int i = 0; i < kv.size(); i += 2) {
                jvm.add("-D" + kv.get(i) + "=" + kv.get(i + 1));
            }
            process = new ProcessBuilder(ChildBalancer.command(jvm)).redirectErrorStream(true).start();
            proc = "/proc/" + process.pid();
            ChildBalancer.awaitAccepting(process, null);
            mode = Runtime.version().feature() >= 22 ? "epoll" : "nio";
        }

        Process process() {
            return process;
        }

        @Override
        public String mode() {
            return mode + "-child";
        }

        @Override
        public int port(String name) {
            return name.equals("ws") ? wsPort : tcpPort;
        }

        private long metric(String name) throws IOException {
            Http.Response r = Http.request(admin, "GET", "/metrics");
            long sum = 0;
            Matcher m = SAMPLE.matcher(r.body());
            while (m.find()) {
                if (m.group(1).equals(name)) {
                    sum += (long) Double.parseDouble(m.group(3));
                }
            }
            return sum;
        }

        @Override
        public long sessions() throws IOException {
            return metric("nioproxy_connections_active");
        }

        @Override
        public long buffersInUse() throws IOException {
            return metric("nioproxy_buffers_in_use");
        }

        @Override
        public long rssKb() {
            return statusKb(proc, "VmRSS:");
        }

        @Override
        public long descriptors() {
            return descriptorsOf(proc);
        }

        private void post(String path) throws IOException {
            Http.Response r = Http.request(admin, "POST", path);
            if (r.status() != 200) {
                throw new IOException(path + ": " + r.status() + " " + r.body());
            }
        }

        @Override
        public void drain(String address) throws IOException {
            post("/backends/drain?listener=tcp&address=" + address);
        }

        @Override
        public void restore(String address) throws IOException {
            post("/backends?listener=tcp&address=" + address);
        }

        @Override
        public String state(String address) throws IOException {
            String body = Http.request(admin, "GET", "/backends?listener=tcp").body();
            Matcher m = Pattern.compile("\"address\":\"" + Pattern.quote(address) + "\",\"state\":\"(\\w+)\"")
                    .matcher(body);
            return m.find() ? m.group(1) : "absent";
        }

        @Override
        public boolean inProcess() {
            return false;
        }

        @Override
        public String describeSession(int clientPort) {
            try {
                return Http.request(admin, "GET", "/connections?client=127.0.0.1:" + clientPort).body();
            } catch (IOException e) {
                return "(the admin endpoint did not answer: " + e + ")";
            }
        }

        /** The exit a SIGTERM asks for: paced shutdown with nothing left, exit status 0. */
        @Override
        public void close() throws Exception {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("the child balancer did not exit within 30 s of SIGTERM");
            }
            if (process.exitValue() != 0) {
                throw new AssertionError("the child balancer exited with " + process.exitValue());
            }
        }
    }

    /** {@code host:port} split at the last colon. */
    record HostPortAddress(String host, int port) {
        static HostPortAddress of(String address) {
            int colon = address.lastIndexOf(':');
            return new HostPortAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1)));
        }
    }
}
