package io.nioproxy.protect;

import io.nioproxy.Proxy;
import io.nioproxy.relay.Route;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

import static io.nioproxy.testing.ProxyHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A seeded mix of thousands of sessions whose two sides write in random chunks, pause, half-close in either order,
 * and reset at random moments (Envoy's {@code TcpProxyRandomBehavior}). Every byte is checked as it arrives against the
 * generator that made it, so a lost, duplicated, reordered or corrupted byte fails at once. A session that ended
 * cleanly on both sides must deliver every byte both ways; one that a side reset may deliver less, never other bytes.
 * Nothing may be left open (the harness checks sessions, buffers, sockets and threads).
 */
class RandomBehaviourTest {
    private static final int SESSIONS = 1500;
    private static final int CONCURRENCY = 40;
    private static final byte MAGIC = 'S';

    /** What one session does: chosen by its seed, the same on both sides. */
    private record Script(long seed, int kind, int upBytes, int downBytes, int resetAt, boolean backendFirst) {
        static final int CLEAN = 0;
        static final int CLIENT_RESET = 1;
        static final int BACKEND_RESET = 2;

        static Script of(long seed) {
            SplittableRandom r = new SplittableRandom(seed);
            int k = r.nextInt(10);
            int kind = k < 6 ? CLEAN : k < 8 ? CLIENT_RESET : BACKEND_RESET;
            int up = r.nextInt(0, 96 << 10);
            int down = r.nextInt(0, 96 << 10);
            int resetAt = r.nextInt(0, 1 + (kind == BACKEND_RESET ? down : up));
            return new Script(seed, kind, up, down, resetAt, r.nextBoolean());
        }
    }

    /** The byte stream of one direction of one session: deterministic, so the receiver can check every byte. */
    private static final class Stream {
        private final SplittableRandom r;

        Stream(long seed, boolean up) {
            r = new SplittableRandom(seed * 2 + (up ? 1 : 0));
        }

        byte next() {
            return (byte) r.nextInt(256);
        }
    }

    /** Per-session results: bytes each side sent and received, resets seen, mismatches found. */
    private static final class Result {
        volatile long upSent;
        volatile long upReceived;
        volatile long downSent;
        volatile long downReceived;
        volatile boolean clientSawReset;
        volatile boolean backendSawReset;
        volatile boolean backendDone;
        volatile String corruption;
    }

    private final Map<Long, Result> results = new ConcurrentHashMap<>();

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Writes {@code total} bytes of {@code stream} in random chunks with random short pauses; stops at {@code stopAt}.
     * {@code sent} learns the count before each chunk is written: a write that fails part-way may still have handed
     * some of its chunk to the kernel, so the count it reports is an upper bound of what the peer can receive.
     */
    private static void write(OutputStream out, Stream stream, int total, int stopAt, SplittableRandom r,
                              LongConsumer sent) throws IOException {
        long sentSoFar = 0;
        byte[] chunk = new byte[16 << 10];
        while (sentSoFar < Math.min(total, stopAt)) {
            int n = (int) Math.min(Math.min(total, stopAt) - sentSoFar, 1 + r.nextInt(chunk.length));
            for (int i = 0; i < n; i++) {
                chunk[i] = stream.next();
            }
            sentSoFar += n;
            sent.accept(sentSoFar);
            out.write(chunk, 0, n);
            out.flush();
            if (r.nextInt(8) == 0) {
                sleepQuietly(r.nextInt(3));
            }
        }
    }

    /** Reads to the end, checking every byte; returns the count. A reset ends it too (reported through the flag). */
    private static long readAndCheck(InputStream in, Stream stream, Result result, boolean client) {
        long n = 0;
        byte[] buf = new byte[16 << 10];
        try {
            int k;
            while ((k = in.read(buf)) > 0) {
                for (int i = 0; i < k; i++) {
                    if (buf[i] != stream.next() && result.corruption == null) {
                        result.corruption = (client ? "down" : "up") + " byte " + (n + i) + " differs";
                    }
                }
                n += k;
            }
        } catch (IOException e) {
            if (client) {
                result.clientSawReset = true;
            } else {
                result.backendSawReset = true;
            }
        }
        return n;
    }

    private TcpServer backend() throws IOException {
        return new TcpServer(s -> {
            InputStream in = s.getInputStream();
            byte[] head = in.readNBytes(9);
            if (head.length < 9 || head[0] != MAGIC) {
                return; // a health probe or a client that reset before its seed
            }
            long seed = ByteBuffer.wrap(head, 1, 8).getLong();
            Script script = Script.of(seed);
            Result result = results.computeIfAbsent(seed, k -> new Result());
            SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
            Thread reader = new Thread(() -> result.upReceived = readAndCheck(in, new Stream(seed, true), result, false),
                    "random-backend-reader");
            reader.start();
            try {
                if (!script.backendFirst()) {
                    sleepQuietly(r.nextInt(5));
                }
                OutputStream out = s.getOutputStream();
                if (script.kind() == Script.BACKEND_RESET) {
                    write(out, new Stream(seed, false), script.downBytes(), script.resetAt(), r,
                            v -> result.downSent = v);
                    s.setSoLinger(true, 0);
                    s.close();
                } else {
                    write(out, new Stream(seed, false), script.downBytes(), Integer.MAX_VALUE, r,
                            v -> result.downSent = v);
                    s.shutdownOutput();
                }
            } catch (IOException e) {
                result.backendSawReset = true;
            } finally {
                try {
                    reader.join(30_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                result.backendDone = true;
            }
        });
    }

    private void client(Proxy p, long seed) {
        Script script = Script.of(seed);
        Result result = results.computeIfAbsent(seed, k -> new Result());
        SplittableRandom r = new SplittableRandom(seed ^ 0x2545F4914F6CDD1DL);
        try (Socket s = ProxyHarness.connect(p, null)) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(ByteBuffer.allocate(9).put(MAGIC).putLong(seed).array());
            InputStream in = s.getInputStream();
            Thread reader = new Thread(() -> result.downReceived = readAndCheck(in, new Stream(seed, false), result, true),
                    "random-client-reader");
            reader.start();
            try {
                if (script.backendFirst()) {
                    sleepQuietly(r.nextInt(5));
                }
                if (script.kind() == Script.CLIENT_RESET) {
                    write(out, new Stream(seed, true), script.upBytes(), script.resetAt(), r,
                            v -> result.upSent = v);
                    s.setSoLinger(true, 0);
                    s.close();
                } else {
                    write(out, new Stream(seed, true), script.upBytes(), Integer.MAX_VALUE, r,
                            v -> result.upSent = v);
                    s.shutdownOutput();
                }
            } catch (IOException e) {
                result.clientSawReset = true;
            }
            reader.join(30_000);
            assertTrue(!reader.isAlive(), "seed " + seed + ": the client's reads never ended");
        } catch (IOException e) {
            result.clientSawReset = true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void everyByteIsAccountedForAndNothingIsLeftOpen() throws Exception {
        try (ProxyHarness h = new ProxyHarness();
             TcpServer b = h.add(backend())) {
            Proxy p = h.start("proxy.backends", b.address(), "proxy.buffer.size", "4k", "proxy.buffer.pool.max", "1m");
            ExecutorService clients = Executors.newFixedThreadPool(CONCURRENCY);
            List<Future<?>> done = new ArrayList<>();
            long base = 0x6E696F70726F7879L; // "nioproxy"
            for (int i = 0; i < SESSIONS; i++) {
                long seed = base + i;
                done.add(clients.submit(() -> client(p, seed)));
            }
            for (Future<?> f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
            clients.shutdown();
            // a client that reset at once may have gone before its backend connection saw its seed: wait for quiet
            await("every session ended on both sides", Duration.ofSeconds(30),
                    () -> p.sessions() == 0 && b.openConnections() == 0);
            int clean = 0;
            for (int i = 0; i < SESSIONS; i++) {
                long seed = base + i;
                Script script = Script.of(seed);
                Result r = results.get(seed);
                String what = "seed " + seed + " " + script;
                assertEquals(null, r.corruption, what);
                assertTrue(r.backendDone || script.kind() == Script.CLIENT_RESET, what + ": the backend never got it");
                assertTrue(r.upReceived <= r.upSent && r.downReceived <= r.downSent, what + ": more received than sent");
                if (script.kind() == Script.CLEAN) {
                    clean++;
                    assertEquals(r.upSent, r.upReceived, what + ": client to backend");
                    assertEquals(r.downSent, r.downReceived, what + ": backend to client");
                    assertTrue(!r.clientSawReset && !r.backendSawReset, what + ": a clean session saw a reset");
                    assertEquals(script.upBytes(), r.upSent, what);
                    assertEquals(script.downBytes(), r.downSent, what);
                }
            }
            assertTrue(clean > SESSIONS / 2, "clean sessions in the mix: " + clean);
            Route route = p.listeners().get(0).route();
            await("every session counted as ended", Duration.ofSeconds(10), () -> route.closed() == SESSIONS);
        }
    }
}
