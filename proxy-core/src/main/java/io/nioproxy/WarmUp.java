package io.nioproxy;

import io.nioproxy.config.IoMode;
import io.nioproxy.config.Settings;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.LoopTimer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs the data path on loopback before the real listeners open, so that the JIT has compiled it when the first
 * client arrives. A private balancer (same I/O mode as the real one) relays to a private echo backend; clients run
 * request/response round trips on kept-open connections and as many short connections (accept, pick, connect,
 * relay, close), ended each of the ways real sessions end: closed by the backend first (an HTTP
 * {@code Connection: close} exchange), closed by the client first, reset by the client, reset by the backend,
 * closed without a byte (a TCP health check), and abandoned by a client while its reply is on the way.
 * Without it the first seconds of traffic run interpreted and the compiler threads compete with the loop: slow first
 * requests, a long latency tail and extra CPU per connection that HAProxy and nginx do not have.
 *
 * <p>The traffic comes in rounds and stops after a round in which the JIT compiled (almost) nothing. It must go on
 * while the JIT works: HotSpot drops a queued compilation whose method has not run for 50 ms, and raises its
 * thresholds while its queue is long, so one burst followed by a pause left the once-per-connection methods at tier 3
 * and C2 compiled them under the first real load (docs/decisions/0003-start-up-warm-up.md). Everything it opens is
 * closed before {@link Main} binds the real listeners.
 *
 * <p>Start-up thread only (plus its own client and echo threads, all ended before it returns).
 */
final class WarmUp {
    static final int CLIENTS = 8;
    /** A round is this fraction of {@code proxy.warmup}. */
    private static final int ROUND_PARTS = 8;
    private static final int MIN_ROUNDS = 4;
    private static final int MAX_ROUNDS = 16;
    /** A round whose compilations took less than this (of 0.3–1 s of traffic) leaves the JIT nothing to do. */
    private static final long QUIET_ROUND_MILLIS = 20;
    private static final int MESSAGE = 64;
    /** Empty polls per round (see {@link #idleTurns}) and how long each waits. */
    private static final int IDLE_TURNS = 4;
    private static final long IDLE_TURN_NANOS = 3_000_000;
    /** First byte of a message after which the echo backend closes the connection (it echoes the message first). */
    private static final byte CLOSE_AFTER = 'C';
    /** First byte of a message after which the echo backend resets the connection (SO_LINGER 0). */
    private static final byte RESET_AFTER = 'R';

    private WarmUp() {
    }

    /**
     * @param roundTrips {@code proxy.warmup}: a round is an eighth of it in round trips and as many connections;
     *                   4 to 16 rounds run
     * @param io         the I/O mode the real listeners use, so that the code compiled is the code that will run
     * @return a summary for the start-up log line (logged by Main with the settings, so that a start-up error stays
     *         the only line a failed start prints)
     */
    static String run(int roundTrips, IoMode io) {
        if (roundTrips <= 0) {
            return "warm-up off";
        }
        long start = System.nanoTime();
        int step = Math.max(CLIENTS, roundTrips / ROUND_PARTS);
        int rounds = 0;
        int emptyPolls = 0;
        try (ServerSocket echo = new ServerSocket(0, 128, InetAddress.getLoopbackAddress())) {
            // a fixed set of accept-and-serve threads: a thread per short connection would cost more than the
            // connection itself. Each client holds at most one connection at a time, so 2 x CLIENTS is plenty.
            for (int i = 0; i < 2 * CLIENTS; i++) {
                Thread backend = new Thread(() -> serve(echo), "nioproxy-warmup-echo");
                backend.setDaemon(true);
                backend.start();
            }
            Properties p = new Properties();
            p.setProperty(Settings.IO.property(), io.name().toLowerCase(Locale.ROOT));
            p.setProperty(Settings.LISTEN.property(), "127.0.0.1:0");
            p.setProperty(Settings.BACKENDS.property(), "127.0.0.1:" + echo.getLocalPort());
            p.setProperty(Settings.WORKERS.property(), "1");
            var config = Settings.from(p).build();
            CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
            boolean timed = jit != null && jit.isCompilationTimeMonitoringSupported();
            long compiled = timed ? jit.getTotalCompilationTime() : 0;
            while (rounds < MAX_ROUNDS) {
                // A fresh balancer each round: its first accept, first session, empty affinity table and empty
                // buffer pool take branches that a long-lived one takes only once, before the JIT profiles. Left
                // unprofiled, C2 compiles them as traps, and the real listeners' first client deoptimised the
                // accept and relay methods (back to tier 3, recompiled under load).
                try (Proxy proxy = Proxy.start(config)) {
                    driveAll(proxy.listeners().get(0).boundAddress(), step);
                    awaitNoSessions(proxy);
                    emptyPolls += idleTurns(proxy.loops()[0]);
                }
                rounds++;
                long now = timed ? jit.getTotalCompilationTime() : 0;
                if (rounds >= MIN_ROUNDS && now - compiled < QUIET_ROUND_MILLIS) {
                    break;
                }
                compiled = now;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "warm-up interrupted";
        } catch (IOException | RuntimeException e) {
            return "warm-up skipped: " + e; // never a reason not to start
        }
        long total = (long) rounds * (step / CLIENTS * CLIENTS);
        return "warm-up " + rounds + " rounds, " + total + " round trips, " + total + " connections and " + emptyPolls
                + " empty polls in "
                + (System.nanoTime() - start) / 1_000_000 + " ms";
    }

    /**
     * Waits (at most 2 s) until the private balancer has ended the sessions its clients left: the last ones end a
     * moment after the client's close or reset. Closing it earlier would log "closed N sessions at shutdown", a line
     * that must not appear at start-up (a failed start prints exactly one line).
     */
    private static void awaitNoSessions(Proxy proxy) throws InterruptedException {
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (proxy.sessions() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
    }

    /**
     * Makes the loop wait for readiness and find none, a few times: a poll that times out empty. The warm-up's
     * traffic never does, and a real balancer does sooner or later (idle before its first client, at a pause in the
     * load, or within it): the loop's turn, compiled by C2 with that branch never taken, was deoptimised by the real
     * loop's first empty poll and recompiled on the loop's core (docs/decisions/0003-start-up-warm-up.md). A timer a
     * few milliseconds away is the shortest
     * empty wait the loop can be given; its firing runs the timer path as well (the real listeners' acceptors keep
     * timers).
     *
     * @return how many timed out (each after an empty poll)
     */
    private static int idleTurns(EventLoop loop) throws InterruptedException {
        int done = 0;
        for (int i = 0; i < IDLE_TURNS; i++) {
            CountDownLatch fired = new CountDownLatch(1);
            LoopTimer timer = new LoopTimer() {
                @Override
                protected void onDeadline(long nowNanos) {
                    fired.countDown();
                }
            };
            long deadline = System.nanoTime() + IDLE_TURN_NANOS;
            if (!loop.execute(l -> l.schedule(timer, deadline)) || !fired.await(1, TimeUnit.SECONDS)) {
                break; // a loop that stopped or stalled: the warm-up is only an optimisation
            }
            done++;
        }
        return done;
    }

    /** Runs {@code roundTrips} round trips and as many short connections, from {@link #CLIENTS} clients at once. */
    private static void driveAll(InetSocketAddress front, int roundTrips) throws IOException, InterruptedException {
        // several clients at once: the loop then handles many ready events per turn, as under real load, and the
        // warm-up is bound by CPU rather than by one connection's round-trip time
        Thread[] clients = new Thread[CLIENTS];
        IOException[] failure = new IOException[1];
        for (int c = 0; c < CLIENTS; c++) {
            clients[c] = new Thread(() -> {
                try {
                    drive(front, roundTrips / CLIENTS);
                } catch (IOException e) {
                    failure[0] = e;
                }
            }, "nioproxy-warmup-client");
            clients[c].start();
        }
        for (Thread t : clients) {
            t.join();
        }
        if (failure[0] != null) {
            throw failure[0];
        }
    }

    /** One client's share: round trips on a kept-open connection, then as many short connections. */
    private static void drive(InetSocketAddress front, int roundTrips) throws IOException {
        byte[] msg = new byte[MESSAGE];
        byte[] back = new byte[MESSAGE];
        try (Socket s = new Socket(front.getAddress(), front.getPort())) {
            s.setTcpNoDelay(true);
            for (int i = 0; i < roundTrips; i++) {
                roundTrip(s, msg, back);
            }
        }
        byte[] closing = new byte[MESSAGE];
        closing[0] = CLOSE_AFTER;
        byte[] resetting = new byte[MESSAGE];
        resetting[0] = RESET_AFTER;
        for (int i = 0; i < roundTrips; i++) {
            // the ways real sessions end, so that each has run (and been profiled) before the first client: the
            // backend closes first, the client closes first, the client resets, the backend resets, a client that
            // connects and leaves without a byte (another balancer's TCP health check, a port scan), and a client
            // that vanishes while its reply and the backend's FIN are on their way (a load generator stopping, a
            // browser tab closed): the reply's write fails, and the session ends inside the turn that read it
            try (Socket s = new Socket(front.getAddress(), front.getPort())) {
                switch (i % 6) {
                    case 0 -> {
                        roundTrip(s, closing, back); // the proxy half-closes towards us
                        expectEnd(s);
                    }
                    case 1 -> {
                        roundTrip(s, msg, back);
                        s.shutdownOutput();          // the proxy half-closes towards the backend
                        expectEnd(s);
                    }
                    case 2 -> {
                        roundTrip(s, msg, back);
                        s.setSoLinger(true, 0);      // close sends RST: the proxy's read fails with ECONNRESET
                    }
                    case 3 -> {
                        roundTrip(s, resetting, back); // the backend resets after the echo; the proxy closes us
                        try {
                            s.getInputStream().read();
                        } catch (IOException reset) {
                            // a reset passed on is as good as a close here
                        }
                    }
                    case 4 -> s.shutdownOutput(); // no byte either way
                    default -> {
                        s.getOutputStream().write(closing); // the backend echoes it and closes
                        s.setSoLinger(true, 0);             // and we are gone before the echo: RST
                    }
                }
            }
        }
    }

    private static void expectEnd(Socket s) throws IOException {
        if (s.getInputStream().read() != -1) {
            throw new IOException("warm-up: bytes after the echo");
        }
    }

    private static void roundTrip(Socket s, byte[] msg, byte[] back) throws IOException {
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        out.write(msg);
        if (in.readNBytes(back, 0, back.length) < back.length) {
            throw new IOException("warm-up: closed before the echo");
        }
    }

    /** Accepts and echoes one connection at a time until the server socket closes. */
    private static void serve(ServerSocket server) {
        byte[] buf = new byte[4096];
        while (!server.isClosed()) {
            try (Socket s = server.accept()) {
                s.setTcpNoDelay(true);
                int n;
                long echoed = 0;
                byte first = 0;
                while ((n = s.getInputStream().read(buf)) > 0) {
                    if (echoed == 0) {
                        first = buf[0];
                    }
                    s.getOutputStream().write(buf, 0, n);
                    echoed += n;
                    if ((first == CLOSE_AFTER || first == RESET_AFTER) && echoed >= MESSAGE) {
                        if (first == RESET_AFTER) {
                            s.setSoLinger(true, 0);
                        }
                        break;
                    }
                }
            } catch (IOException e) {
                if (server.isClosed()) {
                    return;
                }
                // a connection that failed; serve the next one
            }
        }
    }
}
