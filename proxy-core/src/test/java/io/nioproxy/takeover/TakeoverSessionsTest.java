package io.nioproxy.takeover;

import io.nioproxy.sys.Linux;
import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Established sessions move with a take-over. 500 WebSocket sessions (the JDK's WebSocket client against the 'ws'
 * library's echo server in node) each send numbered messages and check every echo in order, while another client
 * opens connections without pause; the balancer is taken over three times from the same jar, then once with a
 * changed configuration. No session is closed, no message lost, repeated or out of order, no connection refused,
 * and the last process lists the same session ids as the first, with their ages.
 */
class TakeoverSessionsTest {
    private static final int SESSIONS = 500;
    private static final Path NODE_DIR = Path.of("src", "test", "node");
    /** Made before anything counts descriptors: JDK 17 has no HttpClient.close. */
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final List<Process> children = new ArrayList<>();
    private final List<String> logs = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void webSocketSessionsSurviveFourTakeOvers(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Linux.AVAILABLE, "passing sockets needs epoll mode (JDK 22+)");
        boolean node = Files.isDirectory(NODE_DIR.resolve("node_modules").resolve("ws"));
        if (!node && System.getenv("CI") != null) {
            throw new AssertionError("'ws' is required in CI (.ci/run runs npm ci in " + NODE_DIR + ")");
        }
        Assumptions.assumeTrue(node, "no 'ws' in " + NODE_DIR + "/node_modules: run npm ci there");
        // port 0: the server takes a free port itself and says which (no window for another process to take it)
        Process echo = new ProcessBuilder("node", "ws-echo.js", "0").directory(NODE_DIR.toFile())
                .redirectErrorStream(true).start();
        children.add(echo);
        String first = new BufferedReader(new InputStreamReader(echo.getInputStream(), StandardCharsets.UTF_8)).readLine();
        assertTrue(first != null && first.startsWith("listening "), "the ws echo server: " + first);
        int wsPort = Integer.parseInt(first.substring("listening ".length()));

        int port = ProxyHarness.freePort();
        int admin = ProxyHarness.freePort();
        Path sock = dir.resolve("takeover.sock");
        List<String> base = List.of("-Dproxy.warmup=0", "-Dproxy.listen=127.0.0.1:" + port,
                "-Dproxy.backends=127.0.0.1:" + wsPort, "-Dproxy.takeover.socket=" + sock,
                "-Dproxy.admin=127.0.0.1:" + admin, "-Dproxy.workers=2", "-Dproxy.shutdown.timeout=2s",
                "-Dproxy.shutdown.pace=1s");
        Process running = start(base, List.of());
        ProxyHarness.await("the take-over socket", Duration.ofSeconds(10), () -> Files.exists(sock));

        List<Session> sessions = new ArrayList<>();
        for (int i = 0; i < SESSIONS; i++) {
            Session s = new Session(i);
            s.ws = HTTP.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:" + port + "/"), s)
                    .get(10, TimeUnit.SECONDS);
            sessions.add(s);
        }
        AtomicBoolean sending = new AtomicBoolean(true);
        Thread pinger = new Thread(() -> {
            while (sending.get()) {
                for (Session s : sessions) {
                    s.next();
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "ws-pinger");
        pinger.start();
        awaitProgress(sessions, "through the first process");
        Set<Long> idsBefore = sessionIds(admin);
        assertEquals(SESSIONS, idsBefore.size(), "the first process relays the 500 sessions");
        NewConnections fresh = new NewConnections(port);

        for (int round = 1; round <= 4; round++) {
            List<String> changed = round == 4
                    ? List.of("-Dproxy.workers=1", "-Dproxy.idle.timeout=1h", "-Dproxy.maxconn=5000") : List.of();
            Process next = start(base, changed, "--takeover");
            assertTrue(running.waitFor(30, TimeUnit.SECONDS), "take-over " + round + ": the previous process exits");
            assertEquals(0, running.exitValue());
            running = next;
            awaitProgress(sessions, "after take-over " + round);
        }
        sending.set(false);
        pinger.join(5000);
        fresh.close();
        for (Session s : sessions) {
            ProxyHarness.await("session " + s.index + " has every echo", Duration.ofSeconds(10),
                    () -> s.received.get() == s.sent.get());
        }
        List<String> problems = new ArrayList<>();
        for (Session s : sessions) {
            problems.addAll(s.errors);
        }
        assertEquals(List.of(), problems.subList(0, Math.min(10, problems.size())), "no message lost, repeated or "
                + "out of order, no session closed (" + problems.size() + " problems)");
        assertEquals(0, fresh.refused.get(), "no new connection refused across four take-overs: " + fresh.last);
        assertTrue(fresh.ok.get() > 100, "new connections kept coming: " + fresh.ok.get());
        Set<Long>[] last = new Set[1];
        ProxyHarness.await("the new connections' sessions ended", Duration.ofSeconds(10), () -> {
            try {
                last[0] = sessionIds(admin);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            return last[0].size() == SESSIONS;
        });
        assertEquals(idsBefore, last[0], "the last process relays the same sessions, under the same ids");
        String metrics = Http.request(new InetSocketAddress("127.0.0.1", admin), "GET", "/metrics").body();
        Matcher accepted = Pattern.compile("\nnioproxy_connections_accepted_total\\{listener=\"default\"} (\\d+)")
                .matcher(metrics);
        assertTrue(accepted.find(), metrics);
        assertTrue(Long.parseLong(accepted.group(1)) >= SESSIONS + fresh.ok.get(), "the counters go on across the"
                + " take-overs: " + accepted.group(1) + " accepted, at least " + SESSIONS + " + " + fresh.ok.get());
        synchronized (logs) {
            assertTrue(logs.stream().anyMatch(l -> l.contains("take-over: complete; " + SESSIONS + " sessions")),
                    String.join("\n", logs));
        }
        long total = sessions.stream().mapToLong(s -> s.received.get()).sum();
        System.out.printf("%d sessions, %d messages echoed in order across four take-overs; %d new connections%n",
                SESSIONS, total, fresh.ok.get());
        for (Session s : sessions) {
            s.ws.abort();
        }
    }

    private Process start(List<String> base, List<String> extra, String... args) throws IOException {
        List<String> jvm = new ArrayList<>(base);
        jvm.addAll(extra);
        ProcessBuilder pb = new ProcessBuilder(ChildBalancer.command(jvm, args));
        pb.redirectErrorStream(true);
        Process p = pb.start();
        children.add(p);
        ChildBalancer.awaitAccepting(p, logs);
        return p;
    }

    private static void awaitProgress(List<Session> sessions, String when) {
        long[] before = sessions.stream().mapToLong(s -> s.received.get()).toArray();
        List<String> errors = new ArrayList<>();
        sessions.forEach(s -> errors.addAll(s.errors));
        long stuck = sessions.stream().filter(s -> s.sent.get() != s.received.get()).count();
        ProxyHarness.await("every session echoes " + when + " (so far: " + errors.size() + " problems "
                + errors.subList(0, Math.min(3, errors.size())) + ", " + stuck + " sessions awaiting an echo, "
                + sessions.stream().mapToLong(s -> s.received.get()).sum() + " echoes)", Duration.ofSeconds(30), () -> {
            for (int i = 0; i < before.length; i++) {
                if (sessions.get(i).received.get() < before[i] + 3) {
                    return false;
                }
            }
            return true;
        });
    }

    /** The ids of the sessions /connections lists (retrying while the admin port moves between processes). */
    private static Set<Long> sessionIds(int admin) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            try {
                String body = Http.request(new InetSocketAddress("127.0.0.1", admin), "GET", "/connections").body();
                Set<Long> ids = new TreeSet<>();
                Matcher m = Pattern.compile("\"id\":(\\d+)").matcher(body);
                while (m.find()) {
                    ids.add(Long.parseLong(m.group(1)));
                }
                return ids;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("no admin endpoint", e);
                }
                Thread.sleep(100);
            }
        }
    }

    /** One WebSocket: sends "i n" when the echo of n-1 came back, checks every echo's number. */
    private static final class Session implements WebSocket.Listener {
        final int index;
        final AtomicLong sent = new AtomicLong();
        final AtomicLong received = new AtomicLong();
        final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        volatile WebSocket ws;
        private final StringBuilder text = new StringBuilder();

        Session(int index) {
            this.index = index;
        }

        void next() {
            WebSocket w = ws;
            if (w != null && received.get() == sent.get() && errors.isEmpty()) {
                long n = sent.incrementAndGet();
                w.sendText(index + " " + n, true);
            }
        }

        @Override
        public void onOpen(WebSocket webSocket) {
            webSocket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                String want = index + " " + (received.get() + 1);
                if (!want.contentEquals(text)) {
                    errors.add("session " + index + ": expected '" + want + "', got '" + text + "'");
                }
                received.incrementAndGet();
                text.setLength(0);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            errors.add("session " + index + " closed: " + statusCode + " " + reason);
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            errors.add("session " + index + " failed: " + error);
        }
    }

    /** Opens and closes TCP connections one after another; counts the refused ones. */
    private static final class NewConnections implements AutoCloseable {
        final AtomicLong ok = new AtomicLong();
        final AtomicLong refused = new AtomicLong();
        volatile String last;
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;

        NewConnections(int port) {
            thread = new Thread(() -> {
                while (running.get()) {
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                        ok.incrementAndGet();
                    } catch (ConnectException e) {
                        refused.incrementAndGet();
                        last = e.toString();
                    } catch (IOException e) {
                        last = e.toString();
                    }
                    try {
                        Thread.sleep(2);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "new-connections");
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            thread.join(5000);
        }
    }
}
