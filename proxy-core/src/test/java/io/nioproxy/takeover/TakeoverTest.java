package io.nioproxy.takeover;

import io.nioproxy.sys.Linux;
import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.ConnectingClient;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Take-over of the listening sockets between real balancer processes (child JVMs, epoll mode): while a client opens
 * connections without pause, three new processes in a row take over from the one before; not one connection is
 * refused or cut, and each previous process exits 0. Refusals leave the running process serving: a changed listen
 * address, a protocol version it does not speak, a new process that dies half-way (played by this test with the
 * protocol's own socket), and a process that cannot pass sockets (java.nio).
 */
class TakeoverTest {
    private Path dir;
    private Path sock;
    private int port;
    private TcpServer echo;
    private final List<Process> children = new ArrayList<>();
    private final List<String> logs = new ArrayList<>();

    @BeforeEach
    void setUp(@TempDir Path tmp) throws IOException {
        dir = tmp;
        sock = dir.resolve("takeover.sock");
        port = ProxyHarness.freePort();
        echo = TcpServer.echo();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        echo.close();
    }

    /**
     * A balancer child. Sessions that stay with a process that was taken over (still connecting at that moment) get
     * 10 s to end on their own: a loaded machine must not turn the paced shutdown's cut into a test failure.
     */
    private Process balancer(String... extra) throws IOException {
        List<String> jvm = new ArrayList<>(List.of("-Dproxy.warmup=0", "-Dproxy.listen=127.0.0.1:" + port,
                "-Dproxy.backends=" + echo.address(), "-Dproxy.takeover.socket=" + sock,
                "-Dproxy.shutdown.timeout=10s", "-Dproxy.shutdown.pace=1s", "-Dproxy.workers=2"));
        List<String> args = new ArrayList<>();
        for (String e : extra) {
            (e.startsWith("-D") ? jvm : args).add(e);
        }
        ProcessBuilder pb = new ProcessBuilder(ChildBalancer.command(jvm, args.toArray(new String[0])));
        pb.redirectErrorStream(true);
        Process p = pb.start();
        children.add(p);
        return p;
    }

    /** Starts a process and waits until it accepts (and, for a take-over, until it took over). */
    private Process accepting(String... extra) throws IOException {
        Process p = balancer(extra);
        ChildBalancer.awaitAccepting(p, logs);
        return p;
    }

    @Test
    void threeTakeOversInARowRefuseNoConnection() throws Exception {
        assumeTrue(Linux.AVAILABLE, "passing sockets needs epoll mode (JDK 22+); the refusal is tested below");
        Process first = accepting();
        ProxyHarness.await("the take-over socket", Duration.ofSeconds(10), () -> Files.exists(sock));
        try (ConnectingClient client = new ConnectingClient(port)) {
            Process previous = first;
            for (int round = 1; round <= 3; round++) {
                long before = client.ok.get();
                ProxyHarness.await("connections through process " + round, Duration.ofSeconds(10),
                        () -> client.ok.get() > before + 50);
                Process next = accepting("--takeover", "-Dproxy.workers=" + (round == 2 ? 1 : 2));
                assertTrue(previous.waitFor(20, TimeUnit.SECONDS), "the previous process exits after the take-over");
                assertEquals(0, previous.exitValue(), "and exits 0");
                long after = client.ok.get();
                ProxyHarness.await("connections through the new process", Duration.ofSeconds(10),
                        () -> client.ok.get() > after + 50);
                assertTrue(next.isAlive());
                previous = next;
            }
            assertEquals(0, client.failed.get(), "no connection refused or cut across three take-overs: "
                    + client.lastError.get());
        }
        synchronized (logs) {
            assertTrue(logs.stream().filter(l -> l.contains("take-over: complete")).count() >= 3, String.join("\n", logs));
        }
    }

    @Test
    void refusedTakeOversLeaveTheRunningProcessServing() throws Exception {
        assumeTrue(Linux.AVAILABLE, "passing sockets needs epoll mode (JDK 22+)");
        Process running = accepting();
        ProxyHarness.await("the take-over socket", Duration.ofSeconds(10), () -> Files.exists(sock));
        try (ConnectingClient client = new ConnectingClient(port)) {
            Process moved = balancer("--takeover", "-Dproxy.listen=127.0.0.1:" + ProxyHarness.freePort());
            assertTrue(moved.waitFor(30, TimeUnit.SECONDS));
            String out = new String(moved.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(2, moved.exitValue(), out);
            assertTrue(out.contains("a take-over cannot move a listening address"), out);

            // a process speaking a protocol version this one does not
            try (HandoverSocket s = HandoverSocket.connect(sock, 10_000)) {
                s.send("hello 7 9");
                HandoverSocket.Message m = s.receive();
                assertNotNull(m);
                assertTrue(m.text().startsWith("refused protocol versions 1 to 2 here"), m.text());
            }

            // a new process that takes the sockets and dies before accepting on them
            try (HandoverSocket s = HandoverSocket.connect(sock, 10_000)) {
                s.send("hello 1 1");
                assertEquals("ok 1", s.receive().text());
                s.send("listeners default=127.0.0.1:" + port);
                HandoverSocket.Message listener = s.receive();
                assertEquals("listener default", listener.text());
                assertEquals(2, listener.fds().length, "one socket per loop");
                assertEquals("end", s.receive().text());
                Linux.Calls sys = Linux.calls();
                for (int fd : listener.fds()) {
                    sys.close(fd);
                }
            } // closed without 'bound'

            long before = client.ok.get();
            ProxyHarness.await("still serving", Duration.ofSeconds(10), () -> client.ok.get() > before + 50);
            assertTrue(running.isAlive(), "the running process goes on");
            assertEquals(0, client.failed.get(), "no connection lost to the refused take-overs: "
                    + client.lastError.get());

            // and a good take-over still works afterwards
            accepting("--takeover");
            assertTrue(running.waitFor(20, TimeUnit.SECONDS));
            assertEquals(0, client.failed.get(), String.valueOf(client.lastError.get()));
        }
    }

    @Test
    void aNewProcessThatDiesWhileSessionsMoveLosesNone() throws Exception {
        assumeTrue(Linux.AVAILABLE, "passing sockets needs epoll mode (JDK 22+)");
        Process running = accepting();
        ProxyHarness.await("the take-over socket", Duration.ofSeconds(10), () -> Files.exists(sock));
        List<Socket> sessions = openSessions(20);
        // the new process, played here: takes the sockets, says it accepts, takes a batch of sessions, dies
        try (HandoverSocket s = HandoverSocket.connect(sock, 10_000)) {
            s.send("hello 1 1");
            assertEquals("ok 1", s.receive().text());
            s.send("listeners default=127.0.0.1:" + port);
            HandoverSocket.Message listener = s.receive();
            assertEquals("end", s.receive().text());
            closeAll(listener.fds());
            s.send("bound");
            HandoverSocket.Message m;
            while ((m = s.receive()) != null && !m.text().startsWith("sessions")) {
                // the affinity table
            }
            assertNotNull(m, "sessions sent");
            assertEquals(2 * 20, m.fds().length, "every session, two descriptors each");
            closeAll(m.fds());
        } // gone without adopting
        for (int i = 0; i < sessions.size(); i++) {
            echoes(sessions.get(i), "after " + i); // relayed by the old process, nothing lost
        }
        ProxyHarness.await("listening again", Duration.ofSeconds(10), () -> {
            try (Socket s = new Socket("127.0.0.1", port)) {
                return true;
            } catch (IOException e) {
                return false;
            }
        });
        assertTrue(running.isAlive(), "the old process goes on");
        for (Socket s : sessions) {
            s.close();
        }
        synchronized (logs) {
            assertTrue(logs.stream().anyMatch(l -> l.contains("sessions not handed over stay here; listening again")),
                    String.join("\n", logs));
        }
    }

    @Test
    void aDrainInProgressGoesOnInTheNewProcess() throws Exception {
        assumeTrue(Linux.AVAILABLE, "passing sockets needs epoll mode (JDK 22+)");
        try (TcpServer other = TcpServer.echo()) {
            int admin = ProxyHarness.freePort();
            String[] conf = {"-Dproxy.backends=" + echo.address() + "," + other.address(), "-Dproxy.balance=round-robin",
                    "-Dproxy.admin=127.0.0.1:" + admin};
            Process old = accepting(conf);
            ProxyHarness.await("the take-over socket", Duration.ofSeconds(10), () -> Files.exists(sock));
            List<Socket> sessions = openSessions(20);
            InetSocketAddress adminAt = new InetSocketAddress("127.0.0.1", admin);
            assertEquals(200, io.nioproxy.testing.Http.request(adminAt, "POST",
                    "/backends/drain?address=" + other.address()).status());
            String[] args = new String[conf.length + 1];
            System.arraycopy(conf, 0, args, 0, conf.length);
            args[conf.length] = "--takeover";
            accepting(args);
            assertTrue(old.waitFor(20, TimeUnit.SECONDS), "the old process exits: only the new one answers now");
            String[] backends = new String[1];
            ProxyHarness.await("the new process's admin endpoint", Duration.ofSeconds(15), () -> {
                try {
                    backends[0] = io.nioproxy.testing.Http.request(adminAt, "GET", "/backends").body();
                    return backends[0].contains("\"sessions\"");
                } catch (IOException e) {
                    return false;
                }
            });
            String drained = backends[0].substring(backends[0].indexOf(other.address()));
            assertTrue(drained.contains("\"state\":\"draining\""), "still draining in the new process: " + backends[0]);
            assertTrue(drained.contains("\"active\":10,"), "its 10 sessions moved with it: " + backends[0]);
            for (int i = 0; i < 10; i++) {
                try (Socket s = new Socket("127.0.0.1", port)) {
                    s.setSoTimeout(5000);
                    echoes(s, "new " + i);
                }
            }
            String after = io.nioproxy.testing.Http.request(adminAt, "GET", "/backends").body();
            String b = after.substring(after.indexOf(other.address()));
            assertTrue(b.contains("\"sessions\":10,"), "no new client went to the draining backend (the 10 it had"
                    + " are its count carried over): " + after);
            for (int i = 0; i < sessions.size(); i++) {
                echoes(sessions.get(i), "after " + i);
                sessions.get(i).close();
            }
        }
    }

    /** Sessions through the balancer, each checked with one echoed line. */
    private List<Socket> openSessions(int n) throws IOException {
        List<Socket> sessions = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Socket s = new Socket("127.0.0.1", port);
            s.setSoTimeout(5000);
            sessions.add(s);
            echoes(s, "before " + i);
        }
        return sessions;
    }

    static void echoes(Socket s, String line) throws IOException {
        s.getOutputStream().write((line + "\n").getBytes(StandardCharsets.US_ASCII));
        assertEquals(line, ProxyHarness.readLine(s.getInputStream()));
    }

    private static void closeAll(int[] fds) {
        Linux.Calls sys = Linux.calls();
        for (int fd : fds) {
            sys.close(fd);
        }
    }

    /**
     * /metrics and /backends read the same after a take-over as before it: the bytes of sessions that ended in the old
     * process and of those that moved, per listener and per backend, the accepted count, the per-backend session
     * count, and the connect-time and session-duration summaries (count and sum) — then go on from there.
     */
    @Test
    void theAccountingGoesOnFromWhereItWas() throws Exception {
        assumeTrue(Linux.AVAILABLE, "passing sockets needs epoll mode (JDK 22+)");
        int admin = ProxyHarness.freePort();
        InetSocketAddress adminAt = new InetSocketAddress("127.0.0.1", admin);
        Process old = accepting("-Dproxy.admin=127.0.0.1:" + admin);
        ProxyHarness.await("the take-over socket", Duration.ofSeconds(10), () -> Files.exists(sock));
        long bytes = 0;
        for (int i = 0; i < 30; i++) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.setSoTimeout(5000);
                echoes(s, "ended " + i);
                bytes += ("ended " + i + "\n").length();
            }
        }
        List<Socket> sessions = openSessions(5);
        for (int i = 0; i < 5; i++) {
            bytes += ("before " + i + "\n").length();
        }
        ProxyHarness.await("30 sessions ended in the old process", Duration.ofSeconds(10),
                () -> scrape(adminAt).sum("nioproxy_connections_closed_total") == 30);
        io.nioproxy.metrics.PrometheusText before = scrape(adminAt);
        assertEquals(bytes, (long) before.value("nioproxy_bytes_total", "direction", "up"));
        String backendsBefore = io.nioproxy.testing.Http.request(adminAt, "GET", "/backends").body();
        assertTrue(backendsBefore.contains("\"sessions\":35,"), backendsBefore);

        accepting("--takeover", "-Dproxy.admin=127.0.0.1:" + admin);
        assertTrue(old.waitFor(20, TimeUnit.SECONDS));
        ProxyHarness.await("the new process's admin endpoint", Duration.ofSeconds(15), () -> {
            try {
                return io.nioproxy.testing.Http.request(adminAt, "GET", "/metrics").status() == 200;
            } catch (IOException e) {
                return false;
            }
        });
        io.nioproxy.metrics.PrometheusText after = scrape(adminAt);
        String backend = echo.address();
        for (String direction : new String[] {"up", "down"}) {
            assertEquals(bytes, (long) after.value("nioproxy_bytes_total", "direction", direction), direction);
            assertEquals(bytes, (long) after.value("nioproxy_backend_bytes_total", "backend", backend,
                    "direction", direction), "backend " + direction);
        }
        for (String name : new String[] {"nioproxy_connections_accepted_total", "nioproxy_backend_connect_seconds_count",
                "nioproxy_session_duration_seconds_count", "nioproxy_session_duration_seconds_sum",
                "nioproxy_backend_connect_seconds_sum"}) {
            assertEquals(before.sum(name), after.sum(name), name + " goes on from where it was");
        }
        assertEquals(35, (long) after.sum("nioproxy_connections_accepted_total"));
        assertEquals(30, (long) after.sum("nioproxy_session_duration_seconds_count"));
        String backendsAfter = io.nioproxy.testing.Http.request(adminAt, "GET", "/backends").body();
        assertTrue(backendsAfter.contains("\"sessions\":35,"), backendsAfter);

        // and counts on: a moved session's next bytes, then its end
        echoes(sessions.get(0), "after");
        sessions.get(0).close();
        ProxyHarness.await("the moved session's end counted", Duration.ofSeconds(10),
                () -> scrape(adminAt).sum("nioproxy_session_duration_seconds_count") == 31);
        assertEquals(bytes + "after\n".length(), (long) scrape(adminAt).value("nioproxy_bytes_total", "direction", "up"));
        for (Socket s : sessions) {
            s.close();
        }
    }

    private static io.nioproxy.metrics.PrometheusText scrape(InetSocketAddress admin) {
        try {
            return io.nioproxy.metrics.PrometheusText.parse(
                    io.nioproxy.testing.Http.request(admin, "GET", "/metrics").body());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void theAffinityTableIsCarriedOver() throws Exception {
        assumeTrue(Linux.AVAILABLE, "passing sockets needs epoll mode (JDK 22+)");
        try (TcpServer b0 = TcpServer.named("b0"); TcpServer b1 = TcpServer.named("b1"); TcpServer b2 = TcpServer.named("b2")) {
            String two = b0.address() + "," + b1.address();
            String three = two + "," + b2.address();
            List<String> sources = new ArrayList<>();
            for (int i = 1; i <= 60; i++) {
                sources.add("127.2.0." + i);
            }
            // which of these clients the hash alone would move to a third backend
            long movedByHash = 0;
            try (ProxyHarness h = new ProxyHarness()) {
                io.nioproxy.Proxy fresh = h.start("proxy.backends", three, "proxy.affinity.ttl", "0");
                for (String src : sources) {
                    movedByHash += backendOf(ProxyHarness.port(fresh), src).equals("b2") ? 1 : 0;
                }
            }
            assertTrue(movedByHash > 0, "the test needs clients the hash would move");

            Process old = accepting("-Dproxy.backends=" + two);
            ProxyHarness.await("the take-over socket", Duration.ofSeconds(10), () -> Files.exists(sock));
            java.util.Map<String, String> before = new java.util.HashMap<>();
            for (String src : sources) {
                before.put(src, backendOf(port, src));
            }
            accepting("--takeover", "-Dproxy.backends=" + three);
            assertTrue(old.waitFor(20, TimeUnit.SECONDS));
            for (String src : sources) {
                assertEquals(before.get(src), backendOf(port, src), src + " keeps its backend across the take-over"
                        + " although the hash alone would send " + movedByHash + " of these 60 clients to b2");
            }
            synchronized (logs) {
                assertTrue(logs.stream().anyMatch(l -> l.contains(" and 60 affinity entries carried")),
                        String.join("\n", logs));
            }
        }
    }

    private static String backendOf(int port, String source) throws IOException {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(source, 0));
            s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            s.setSoTimeout(5000);
            return ProxyHarness.readLine(s.getInputStream());
        }
    }

    @Test
    void withoutEpollATakeOverIsRefusedNamingTheFallback() throws Exception {
        Process p = balancer("--takeover", "-Dproxy.io=nio");
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains("needs proxy.io=epoll") && out.contains("paced shutdown"), out);
    }
}
