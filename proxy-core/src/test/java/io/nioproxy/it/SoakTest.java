package io.nioproxy.it;

import io.nioproxy.log.Log;
import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.java_websocket.WebSocket;
import org.java_websocket.handshake.ClientHandshake;
import org.java_websocket.server.WebSocketServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static io.nioproxy.testing.ProxyHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A soak: WebSocket echo sessions through a real library (Java-WebSocket, both ends), bulk echo
 * sessions and short-lived connections, at once, for {@code nioproxy.soak.seconds} (CI: 90 s per I/O mode; the long
 * run: {@code proxy-bench/scripts/soak.sh}, 600 s). Meanwhile a backend of each pool is killed and restarted every
 * {@code seconds / 8} (at most 30 s), and one backend is drained and brought back. Every session checks every byte it
 * gets back; a session may end early only if its own backend was killed while it ran. At the end sessions, buffers,
 * socket descriptors and threads are back to nothing (the harness) and the heap to its baseline; samples of sessions,
 * RSS, descriptors and pooled buffers go to {@code target/soak-MODE.csv} for the chart in {@code docs/benchmarks.md}.
 * The long run puts the balancer in a child JVM ({@link SoakSubject.Child}) so that RSS and descriptors are its own.
 */
class SoakTest {
    private static final int SECONDS = Integer.getInteger("nioproxy.soak.seconds", 90);
    /**
     * WebSocket sessions take part (on by default; {@code -Dnioproxy.soak.ws=false} leaves them out). The
     * Java-WebSocket server now and then receives a message and never writes its echo; {@link #backendKeptIt} tells
     * that apart from a loss in the balancer, which fails the soak.
     */
    private static final boolean WITH_WS = !"false".equals(System.getProperty("nioproxy.soak.ws"));
    /** The balancer in a child JVM (see {@link SoakSubject}): the long run's form, for the balancer's own RSS. */
    private static final boolean CHILD = Boolean.getBoolean("nioproxy.soak.child");
    private static final int WS_CLIENTS = WITH_WS ? 60 : 0;
    /** Every message a WebSocket backend received (for a stall's diagnosis). */
    private static final java.util.Set<String> SERVER_RECEIVED = ConcurrentHashMap.newKeySet();
    private static final int BULK_CLIENTS = 2;
    private static final int SHORT_CLIENTS = 2;

    /** When each backend (by name) was killed: a session on it may end early only across one of these. */
    private final Map<String, List<long[]>> downtimes = new ConcurrentHashMap<>();
    private final List<String> violations = new CopyOnWriteArrayList<>();
    private final AtomicLong wsSessions = new AtomicLong();
    private final AtomicLong wsMessages = new AtomicLong();
    private final AtomicLong bulkBytes = new AtomicLong();
    private final AtomicLong shortSessions = new AtomicLong();
    private final AtomicLong cutByKill = new AtomicLong();
    /** Messages the WebSocket server library received and never answered, with the balancer shown blameless. */
    private final AtomicLong unansweredByBackend = new AtomicLong();
    private volatile boolean running = true;

    /** A WebSocket echo backend that says its name first. */
    static final class NamedWsServer extends WebSocketServer {
        final String name;
        final CompletableFuture<Void> started = new CompletableFuture<>();

        NamedWsServer(String name, int port) {
            super(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            this.name = name;
            setReuseAddr(true);
            setConnectionLostTimeout(0);
        }

        @Override
        public void onOpen(WebSocket conn, ClientHandshake handshake) {
            conn.send("backend " + name);
        }

        @Override
        public void onClose(WebSocket conn, int code, String reason, boolean remote) {
        }

        @Override
        public void onMessage(WebSocket conn, String message) {
            SERVER_RECEIVED.add(message);
            conn.send(message);
        }

        @Override
        public void onError(WebSocket conn, Exception ex) {
        }

        @Override
        public void onStart() {
            started.complete(null);
        }
    }

    /** A pool member that can be killed (every connection cut) and restarted on the same port. */
    private abstract static class Member {
        final String name;
        final int port;

        Member(String name, int port) {
            this.name = name;
            this.port = port;
        }

        abstract void start() throws Exception;

        abstract void kill() throws Exception;

        String address() {
            return "127.0.0.1:" + port;
        }
    }

    private static final class WsMember extends Member {
        private NamedWsServer server;

        WsMember(String name, int port) {
            super(name, port);
        }

        @Override
        void start() throws Exception {
            server = new NamedWsServer(name, port);
            server.start();
            server.started.get(10, TimeUnit.SECONDS);
        }

        @Override
        void kill() throws Exception {
            server.stop(0);
        }
    }

    private static final class TcpMember extends Member {
        private TcpServer server;

        TcpMember(String name, int port) {
            super(name, port);
        }

        @Override
        void start() throws Exception {
            server = TcpServer.named(name, new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        }

        @Override
        void kill() throws Exception {
            server.close();
        }
    }

    private boolean killedDuring(String backend, long from, long to) {
        for (long[] d : downtimes.getOrDefault(backend, List.of())) {
            if (d[0] <= to + TimeUnit.SECONDS.toNanos(1) && d[1] >= from) {
                return true;
            }
        }
        return false;
    }

    /**
     * An early end: allowed only if the session's own backend was killed while it ran — or, for a session cut before
     * its backend said its name, if some backend was.
     */
    private void endedEarly(String kind, String backend, long from, String why) {
        long now = System.nanoTime();
        boolean explained = backend != null ? killedDuring(backend, from, now)
                : downtimes.keySet().stream().anyMatch(b -> killedDuring(b, from, now));
        if (explained) {
            cutByKill.incrementAndGet();
        } else {
            violations.add(kind + " session on " + backend + " ended early without its backend killed: " + why);
        }
    }

    private String killsBefore() {
        long now = System.nanoTime();
        StringBuilder sb = new StringBuilder();
        downtimes.forEach((b, list) -> list.forEach(d -> sb.append(b).append(' ').append((now - d[0]) / 1_000_000)
                .append(' ')));
        return sb.toString();
    }

    /**
     * A client socket that counts the bytes its user read and wrote, to set beside the balancer's count of the same
     * session when a message goes unanswered: which hop kept the bytes tells whom to blame.
     */
    static final class CountingSocket extends Socket {
        volatile long read;
        volatile long written;

        @Override
        public InputStream getInputStream() throws IOException {
            return new java.io.FilterInputStream(super.getInputStream()) {
                @Override
                public int read() throws IOException {
                    int b = super.read();
                    if (b >= 0) {
                        read++;
                    }
                    return b;
                }

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int n = super.read(b, off, len);
                    if (n > 0) {
                        read += n;
                    }
                    return n;
                }
            };
        }

        @Override
        public OutputStream getOutputStream() throws IOException {
            return new java.io.FilterOutputStream(super.getOutputStream()) {
                @Override
                public void write(int b) throws IOException {
                    super.write(b);
                    written++;
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                    written += len;
                }
            };
        }
    }

    /**
     * What the balancer says of the session (its {@code /connections} row, with the balancer's own port toward the
     * backend), and every loopback TCP socket of the session's two connections that has bytes in a queue
     * ({@code /proc/net/tcp}: tx = written and not acknowledged; rx = received and not yet read by its process):
     * where the bytes wait tells which hop holds them.
     */
    /**
     * Whether an unanswered message is provably the backend's doing: the server received it, the balancer moved
     * exactly the bytes the client wrote and read ({@code /connections}: bytes_up = written, bytes_down = read), and no
     * socket of either connection holds a byte in a queue — so every byte the client sent reached the server's
     * process, and the server never wrote an echo into its socket. (Seen with Java-WebSocket 1.6.0's server, about
     * once per few minutes of soak, in both I/O modes.)
     */
    static boolean backendKeptIt(String diagnosis, CountingSocket socket, boolean serverReceived) {
        java.util.regex.Matcher up = java.util.regex.Pattern.compile("\"bytes_up\":(\\d+)").matcher(diagnosis);
        java.util.regex.Matcher down = java.util.regex.Pattern.compile("\"bytes_down\":(\\d+)").matcher(diagnosis);
        return serverReceived && up.find() && down.find() && Long.parseLong(up.group(1)) == socket.written
                && Long.parseLong(down.group(1)) == socket.read && diagnosis.endsWith(" none");
    }

    static String diagnosis(SoakSubject p, int clientPort) {
        String row = p.describeSession(clientPort);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"backend_local\":\"[^\"]*:(\\d+)\"").matcher(row);
        int backendLocal = m.find() ? Integer.parseInt(m.group(1)) : -1;
        StringBuilder sb = new StringBuilder("; the balancer's session: ").append(row)
                .append("; sockets of the session with bytes queued:");
        int found = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/net/tcp"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 5 || !f[1].contains(":") || f[0].startsWith("sl")) {
                    continue;
                }
                int local = Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1), 16);
                int remote = Integer.parseInt(f[2].substring(f[2].indexOf(':') + 1), 16);
                String[] q = f[4].split(":");
                long tx = Long.parseLong(q[0], 16);
                long rx = Long.parseLong(q[1], 16);
                boolean ours = local == clientPort || remote == clientPort
                        || (backendLocal > 0 && (local == backendLocal || remote == backendLocal));
                if (ours && (tx != 0 || rx != 0)) {
                    found++;
                    sb.append(" [").append(local).append("->").append(remote).append(" state ").append(f[3])
                            .append(" tx ").append(tx).append(" rx ").append(rx).append(']');
                }
            }
        } catch (IOException | RuntimeException e) {
            sb.append(" (").append(e).append(')');
        }
        return found == 0 ? sb.append(" none").toString() : sb.toString();
    }

    /** A Java-WebSocket client that queues what it receives. */
    private static final class WsClient extends org.java_websocket.client.WebSocketClient {
        final LinkedBlockingQueue<String> got = new LinkedBlockingQueue<>();
        volatile boolean gone;

        WsClient(URI uri) {
            super(uri);
            setConnectionLostTimeout(0);
            setTcpNoDelay(true);
        }

        @Override
        public void onOpen(org.java_websocket.handshake.ServerHandshake handshake) {
        }

        @Override
        public void onMessage(String message) {
            got.add(message);
        }

        @Override
        public void onClose(int code, String reason, boolean remote) {
            gone = true;
        }

        @Override
        public void onError(Exception ex) {
            gone = true;
        }
    }

    /**
     * A close handshake, bounded: a backend killed by the test may leave its end of the connection open and silent (the
     * library does not close every socket it accepted), and then no close frame ever comes back; the client then
     * drops the connection, as a browser does.
     */
    private static void closeWithin(WsClient ws, long millis) {
        ws.close();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (!ws.isClosed() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (!ws.isClosed()) {
            ws.closeConnection(org.java_websocket.framing.CloseFrame.ABNORMAL_CLOSE, "close handshake timed out");
        }
    }

    /** WebSocket sessions: connect, send a numbered message every 50–250 ms for 2–20 s, check each echo, close. */
    private void wsClient(SoakSubject p, URI uri, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        while (running) {
            long start = System.nanoTime();
            String backend = null;
            WsClient ws = new WsClient(uri);
            CountingSocket socket = new CountingSocket();
            ws.setSocket(socket); // not yet connected: the library connects it, and speaks ws:// over it
            try {
                if (!ws.connectBlocking(10, TimeUnit.SECONDS)) {
                    continue; // refused or cut during the handshake: a new session
                }
                String hello = ws.got.poll(5, TimeUnit.SECONDS);
                if (hello == null || !hello.startsWith("backend ")) {
                    continue; // the backend went away during the handshake: a new session
                }
                backend = hello.substring(8);
                long sessionNo = wsSessions.incrementAndGet(); // in every message: "received" means this one
                long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2000 + r.nextInt(18_000));
                int i = 0;
                String why = null;
                while (running && System.nanoTime() < until && why == null) {
                    String m = "m" + seed + "-" + sessionNo + "-" + i++ + "-" + "x".repeat(r.nextInt(200));
                    try {
                        ws.send(m);
                    } catch (RuntimeException e) {
                        why = "send of message " + (i - 1) + " failed: " + e;
                        break;
                    }
                    String echo = ws.got.poll(15, TimeUnit.SECONDS);
                    if (echo == null) {
                        String d = diagnosis(p, socket.getLocalPort());
                        if (backendKeptIt(d, socket, SERVER_RECEIVED.contains(m))) {
                            // not the balancer's: see backendKeptIt; counted and reported, and the session ends
                            unansweredByBackend.incrementAndGet();
                            Log.warn("soak: the WebSocket server received message " + (i - 1) + " and never wrote its"
                                    + " echo (client read " + socket.read + " B, wrote " + socket.written + " B" + d + ")");
                            why = "";
                            break;
                        }
                        why = "no echo of message " + (i - 1) + " within 15 s" + (ws.gone ? " (closed)" : "")
                                + "; the client's socket read " + socket.read + " bytes and wrote " + socket.written
                                + d + "; the server " + (SERVER_RECEIVED.contains(m) ? "received it" : "never received it");
                    } else if (!echo.equals(m)) {
                        violations.add("ws on " + backend + ": sent " + m + ", got back " + echo);
                        why = "";
                    } else {
                        wsMessages.incrementAndGet();
                        Thread.sleep(50 + r.nextInt(200));
                    }
                }
                if (why != null && !why.isEmpty()) {
                    endedEarly("ws", backend, start, why + ", " + (System.nanoTime() - start) / 1_000_000
                            + " ms into the session; kills (ms before now): " + killsBefore());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException e) {
                if (backend != null) {
                    endedEarly("ws", backend, start, e.toString());
                }
            } finally {
                closeWithin(ws, 5000);
            }
        }
    }

    /** Bulk sessions: 1–4 MiB through an echo backend, every byte checked on the way back. */
    private void bulkClient(int port, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        while (running) {
            long start = System.nanoTime();
            String backend = null;
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout(10_000);
                backend = ProxyHarness.readLine(s.getInputStream());
                int size = (1 << 20) + r.nextInt(3 << 20);
                long dataSeed = r.nextLong();
                String b = backend;
                CompletableFuture<Long> back = CompletableFuture.supplyAsync(() -> {
                    SplittableRandom expected = new SplittableRandom(dataSeed);
                    long n = 0;
                    try {
                        InputStream in = s.getInputStream();
                        byte[] buf = new byte[64 << 10];
                        while (n < size) {
                            int k = in.read(buf);
                            if (k < 0) {
                                break;
                            }
                            for (int i = 0; i < k; i++) {
                                if (buf[i] != (byte) expected.nextInt(256)) {
                                    violations.add("bulk on " + b + ": byte " + (n + i) + " differs");
                                    return -1L;
                                }
                            }
                            n += k;
                        }
                    } catch (IOException e) {
                        // cut: judged below
                    }
                    return n;
                });
                SplittableRandom gen = new SplittableRandom(dataSeed);
                OutputStream out = s.getOutputStream();
                byte[] chunk = new byte[32 << 10];
                try {
                    for (int sent = 0; sent < size; sent += chunk.length) {
                        int k = Math.min(chunk.length, size - sent);
                        for (int i = 0; i < k; i++) {
                            chunk[i] = (byte) gen.nextInt(256);
                        }
                        out.write(chunk, 0, k);
                    }
                } catch (IOException e) {
                    // cut: judged below
                }
                long n = back.get(30, TimeUnit.SECONDS);
                if (n == size) {
                    bulkBytes.addAndGet(size);
                } else if (n >= 0) {
                    endedEarly("bulk", backend, start, n + " of " + size + " bytes back");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception e) {
                if (backend != null) {
                    endedEarly("bulk", backend, start, e.toString());
                }
            }
        }
    }

    /** Short-lived sessions: connect, a line each way, close. */
    private void shortClient(int port) {
        int i = 0;
        while (running) {
            long start = System.nanoTime();
            String backend = null;
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout(10_000);
                backend = ProxyHarness.readLine(s.getInputStream());
                String line = "short " + i++;
                s.getOutputStream().write((line + "\n").getBytes());
                String echo = ProxyHarness.readLine(s.getInputStream());
                if (line.equals(echo)) {
                    shortSessions.incrementAndGet();
                } else if (echo != null) {
                    violations.add("short on " + backend + ": sent " + line + ", got " + echo);
                } else {
                    endedEarly("short", backend, start, "no echo");
                }
            } catch (IOException e) {
                if (backend != null) {
                    endedEarly("short", backend, start, e.toString());
                }
            }
        }
    }

    /** Sessions plus pooled buffers in use: zero when the balancer holds nothing. */
    private static long sessionsAndBuffers(SoakSubject p) {
        try {
            return p.sessions() + p.buffersInUse();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static long heapUsedAfterGcMb() {
        System.gc();
        var mem = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        return mem.getUsed() >> 20;
    }

    @Test
    @Timeout(value = 3600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void mixedSessionsSurviveBackendsKilledAndDrainedAndLeaveNothingBehind() throws Exception {
        // the WebSocket client masks frames with a SecureRandom, which opens /dev/random and /dev/urandom once per
        // process: open them before the harness takes its descriptor baseline
        new java.security.SecureRandom().nextBytes(new byte[16]);
        long heapBefore = heapUsedAfterGcMb();
        List<Thread> threads = new ArrayList<>();
        try (ProxyHarness h = new ProxyHarness()) {
            List<Member> ws = new ArrayList<>();
            List<Member> tcp = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                ws.add(new WsMember("ws" + i, ProxyHarness.freePort()));
                h.ignoreSocketsOnPort(ws.get(i).port);
                tcp.add(new TcpMember("tcp" + i, ProxyHarness.freePort()));
            }
            for (Member m : ws) {
                m.start();
            }
            for (Member m : tcp) {
                m.start();
            }
            String wsList = String.join(",", ws.stream().map(Member::address).toList());
            String tcpList = String.join(",", tcp.stream().map(Member::address).toList());
            SoakSubject p = h.add(CHILD ? new SoakSubject.Child(tcpList, wsList)
                    : new SoakSubject.InProcess(h, tcpList, wsList));
            long childSockets = p.inProcess() ? 0 : ChildBalancer.sockets(((SoakSubject.Child) p).process());
            String mode = p.mode();
            Path csv = Path.of("target", "soak-" + mode + ".csv");
            Files.createDirectories(csv.getParent());
            URI uri = URI.create("ws://127.0.0.1:" + p.port("ws") + "/");
            for (int i = 0; i < WS_CLIENTS; i++) {
                long seed = i;
                threads.add(new Thread(() -> wsClient(p, uri, seed), "soak-ws-" + i));
            }
            for (int i = 0; i < BULK_CLIENTS; i++) {
                long seed = 1000 + i;
                threads.add(new Thread(() -> bulkClient(p.port("tcp"), seed), "soak-bulk-" + i));
            }
            for (int i = 0; i < SHORT_CLIENTS; i++) {
                threads.add(new Thread(() -> shortClient(p.port("tcp")), "soak-short-" + i));
            }
            threads.forEach(Thread::start);

            long killEvery = TimeUnit.SECONDS.toNanos(Math.min(30, Math.max(5, SECONDS / 8)));
            long start = System.nanoTime();
            long end = start + TimeUnit.SECONDS.toNanos(SECONDS);
            long nextKill = start + killEvery;
            long nextSample = start;
            int killed = 0;
            boolean drained = false;
            boolean restored = false;
            Member drainedMember = tcp.get(2);
            try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(csv))) {
                out.println("seconds,sessions,rss_kb,fds,buffers_in_use,ws_messages,bulk_mib,short_sessions,event");
                while (System.nanoTime() < end) {
                    long now = System.nanoTime();
                    String event = "";
                    if (now >= nextKill) {
                        // one member of each pool, in turn, down for 3 s
                        Member w = ws.get(killed % 3);
                        Member t = tcp.get(killed % 2); // tcp2 is the drained one
                        // the downtime is on record before the kill: a client may see the cut at once
                        long[] window = {System.nanoTime(), Long.MAX_VALUE};
                        downtimes.computeIfAbsent(w.name, k -> new CopyOnWriteArrayList<>()).add(window);
                        downtimes.computeIfAbsent(t.name, k -> new CopyOnWriteArrayList<>()).add(window);
                        w.kill();
                        t.kill();
                        Thread.sleep(3000);
                        w.start();
                        t.start();
                        window[1] = System.nanoTime();
                        event = "killed " + w.name + " and " + t.name + " for 3 s";
                        killed++;
                        nextKill += killEvery;
                    }
                    if (!drained && now - start > (end - start) / 3) {
                        p.drain(drainedMember.address());
                        drained = true;
                        event += " drained " + drainedMember.name;
                    } else if (drained && !restored && now - start > 2 * (end - start) / 3) {
                        p.restore(drainedMember.address());
                        restored = true;
                        event += " restored " + drainedMember.name;
                    }
                    if (now >= nextSample || !event.isEmpty()) {
                        out.printf("%d,%d,%d,%d,%d,%d,%d,%d,%s%n", (now - start) / 1_000_000_000L, p.sessions(),
                                p.rssKb(), p.descriptors(), p.buffersInUse(), wsMessages.get(), bulkBytes.get() >> 20,
                                shortSessions.get(), event.trim());
                        out.flush();
                        nextSample = now + TimeUnit.SECONDS.toNanos(5);
                    }
                    Thread.sleep(100);
                }
            }
            running = false;
            for (Thread t : threads) {
                t.join(60_000);
                assertTrue(!t.isAlive(), t.getName() + " did not stop");
            }
            for (Member m : ws) {
                m.kill();
            }
            for (Member m : tcp) {
                m.kill();
            }
            assertEquals(List.of(), violations, "sessions on live backends lost, changed or duplicated bytes");
            assertTrue(killed >= 2, "backends killed during the soak: " + killed);
            assertTrue(drained && restored, "a backend drained and restored");
            assertTrue(wsSessions.get() >= WS_CLIENTS && shortSessions.get() > 100 && bulkBytes.get() > (8 << 20),
                    "traffic of every kind: " + wsSessions + " WebSocket sessions (" + wsMessages + " messages), "
                            + shortSessions + " short sessions, " + (bulkBytes.get() >> 20) + " MiB of bulk");
            assertEquals("up", p.state(drainedMember.address()), "the drained backend is back in rotation");
            await("sessions all ended", Duration.ofSeconds(30), () -> sessionsAndBuffers(p) == 0);
            if (!p.inProcess()) {
                // the harness counts this JVM's sockets; the child's are counted here: its listeners alone
                ChildBalancer.awaitSockets(((SoakSubject.Child) p).process(), childSockets, "after the soak");
            }
            System.out.printf("soak %s: %d s, %d WebSocket sessions, %d messages, %d short sessions, %d MiB bulk, "
                            + "%d sessions cut by a kill of their backend, %d kills, %d WebSocket messages the server"
                            + " library received and never answered%n", mode, SECONDS, wsSessions.get(),
                    wsMessages.get(), shortSessions.get(), bulkBytes.get() >> 20, cutByKill.get(), killed,
                    unansweredByBackend.get());
        } finally {
            running = false;
        }
        long heapAfter = heapUsedAfterGcMb(); // this JVM's: the balancer's own when it runs in it
        assertTrue(heapAfter <= heapBefore + 32, "heap after the soak " + heapAfter + " MB, before " + heapBefore + " MB");
    }
}
