package io.nioproxy.relay;

import io.nioproxy.Proxy;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static io.nioproxy.testing.ProxyHarness.freePort;
import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The relay over real loopback sockets: integrity, half-close, resets, failover, backpressure. */
class RelayTest {
    private static final int BUFFER = 16384;
    /** Threads for the tests' blocking peers (never the common pool: it has one thread on two cores). */
    private static final java.util.concurrent.ExecutorService IO = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "relay-test-io");
        t.setDaemon(true);
        return t;
    });
    private ProxyHarness h;

    @BeforeEach
    void setUp() {
        h = new ProxyHarness();
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
    }

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {0, 1, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 7, 1 << 20})
    void echoesExactBytesOfEverySize(int size) throws Exception {
        TcpServer echo = h.add(TcpServer.echo());
        Proxy p = h.start("proxy.backends", echo.address(), "proxy.buffer.size", String.valueOf(BUFFER));
        byte[] data = randomBytes(size, size);
        try (Socket s = connect(p, null)) {
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    s.getOutputStream().write(data);
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, IO);
            byte[] back = s.getInputStream().readAllBytes(); // ends when the echo server's FIN is carried back
            writer.get(20, TimeUnit.SECONDS);
            assertArrayEquals(data, back);
        }
    }

    @Test
    void carries64MiBEachWayAtOnceByteExact() throws Exception {
        int size = 64 << 20;
        // The backend sends its own 64 MiB stream while it reads the client's, so both directions are full at once.
        byte[] toClient = randomBytes(size, 2);
        AtomicReference<byte[]> backendGot = new AtomicReference<>();
        TcpServer server = h.add(new TcpServer(s -> {
            CompletableFuture<Void> send = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    for (int off = 0; off < size; off += 1 << 16) {
                        out.write(toClient, off, Math.min(1 << 16, size - off));
                    }
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, IO);
            backendGot.set(sha256(s.getInputStream()));
            send.join();
        }));
        Proxy p = h.start("proxy.backends", server.address());
        byte[] toBackend = randomBytes(size, 3);
        try (Socket s = connect(p, null)) {
            CompletableFuture<Void> send = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    for (int off = 0; off < size; off += 1 << 16) {
                        out.write(toBackend, off, Math.min(1 << 16, size - off));
                    }
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, IO);
            byte[] clientGot = sha256(s.getInputStream());
            send.get(60, TimeUnit.SECONDS);
            assertArrayEquals(sha256(toClient), clientGot, "backend -> client stream");
            await("backend finished reading", Duration.ofSeconds(30), () -> backendGot.get() != null);
            assertArrayEquals(sha256(toBackend), backendGot.get(), "client -> backend stream");
        }
        // a stream that keeps filling regular buffers moves to bulk ones (fewer system calls per byte)
        assertTrue(bulkBuffersAllocated(p) > 0, "64 MiB each way used no bulk buffer");
    }

    /**
     * Two loops, each accept mode: in {@code acceptor} mode loop 0 accepts and hands every other socket to loop 1
     * (a SocketChannel or, in epoll mode, a bare descriptor crossing threads). 40 clients held open at once must be
     * spread over both loops and each must get its own bytes back exactly.
     */
    @ParameterizedTest(name = "accept={0}")
    @ValueSource(strings = {"reuseport", "acceptor"})
    void bothAcceptModesRelayOnBothLoops(String mode) throws Exception {
        TcpServer echo = h.add(TcpServer.echo());
        Proxy p = h.start("proxy.backends", echo.address(), "proxy.workers", "2", "proxy.accept", mode,
                "proxy.balance", "source-ip-port");
        Socket[] clients = new Socket[40];
        try {
            for (int i = 0; i < clients.length; i++) {
                clients[i] = connect(p, null);
                byte[] msg = randomBytes(1000 + i, i);
                clients[i].getOutputStream().write(msg);
                assertArrayEquals(msg, clients[i].getInputStream().readNBytes(msg.length), "client " + i);
            }
            int[] perLoop = new int[2];
            for (var snap : p.snapshot(true, null)) {
                perLoop[snap.loop] += snap.sessions.size();
            }
            assertEquals(clients.length, perLoop[0] + perLoop[1]);
            if (mode.equals("acceptor")) {
                assertEquals(clients.length / 2, perLoop[1], "acceptor mode hands every other client to loop 1");
            } else {
                // the kernel spreads by a hash of the 4-tuple: both loops get some (40 clients, ~2^-39 to miss)
                assertTrue(perLoop[0] > 0 && perLoop[1] > 0, "both loops serve: " + Arrays.toString(perLoop));
            }
        } finally {
            for (Socket c : clients) {
                if (c != null) {
                    c.close();
                }
            }
        }
    }

    /** Small messages back and forth never fill a regular buffer: no bulk buffer is ever taken for them. */
    @Test
    void smallMessagesStayInRegularBuffers() throws Exception {
        TcpServer echo = h.add(TcpServer.echo());
        Proxy p = h.start("proxy.backends", echo.address());
        byte[] msg = randomBytes(200, 7);
        try (Socket s = connect(p, null)) {
            for (int i = 0; i < 500; i++) {
                s.getOutputStream().write(msg);
                assertArrayEquals(msg, s.getInputStream().readNBytes(msg.length));
            }
        }
        assertEquals(0, bulkBuffersAllocated(p));
    }

    private static int bulkBuffersAllocated(Proxy p) {
        int n = 0;
        for (var loop : p.loops()) {
            n += loop.bulkPool().allocated();
        }
        return n;
    }

    @Test
    void clientHalfCloseIsCarriedAndBackendKeepsSending() throws Exception {
        // Backend: read until EOF (the client's FIN carried), then answer with what it counted, then close.
        TcpServer server = h.add(new TcpServer(s -> {
            byte[] all = s.getInputStream().readAllBytes();
            OutputStream out = s.getOutputStream();
            out.write(("got " + all.length + " bytes\n").getBytes());
            for (int i = 0; i < 100; i++) {
                out.write(new byte[1000]);
            }
            s.shutdownOutput();
        }));
        Proxy p = h.start("proxy.backends", server.address());
        try (Socket s = connect(p, null)) {
            s.getOutputStream().write(new byte[12345]);
            s.shutdownOutput();
            byte[] back = s.getInputStream().readAllBytes();
            String head = new String(back, 0, 16);
            assertTrue(head.startsWith("got 12345 bytes\n"), head);
            assertEquals(16 + 100_000, back.length);
        }
    }

    @Test
    void backendHalfCloseIsCarriedAndClientKeepsSending() throws Exception {
        // Backend: sends a greeting and FIN at once, then keeps reading everything the client sends after that.
        AtomicReference<Integer> counted = new AtomicReference<>();
        TcpServer server = h.add(new TcpServer(s -> {
            s.getOutputStream().write("bye\n".getBytes());
            s.shutdownOutput();
            counted.set(s.getInputStream().readAllBytes().length);
        }));
        Proxy p = h.start("proxy.backends", server.address());
        try (Socket s = connect(p, null)) {
            InputStream in = s.getInputStream();
            assertEquals("bye\n", new String(in.readNBytes(4)));
            assertEquals(-1, in.read(), "the backend's FIN reaches the client");
            OutputStream out = s.getOutputStream();
            for (int i = 0; i < 50; i++) {
                out.write(new byte[10_000]); // the client->backend direction still flows after the FIN
            }
            s.shutdownOutput();
            await("backend counted the client's bytes", Duration.ofSeconds(10), () -> counted.get() != null);
            assertEquals(500_000, counted.get());
        }
    }

    @Test
    void backendResetIsCarriedAsResetToClient() throws Exception {
        TcpServer server = h.add(new TcpServer(s -> {
            s.getInputStream().read();
            s.setSoLinger(true, 0);
            s.close(); // RST
        }));
        Proxy p = h.start("proxy.backends", server.address());
        try (Socket s = connect(p, null)) {
            s.getOutputStream().write(1);
            InputStream in = s.getInputStream();
            IOException e = assertThrows(IOException.class, () -> {
                while (in.read() >= 0) {
                    // drain until the reset arrives; a clean EOF would end the loop and fail the assertion
                }
            });
            assertTrue(e instanceof SocketException, e.toString());
            assertTrue(e.getMessage().toLowerCase().contains("reset"), e.getMessage());
        }
        await("reset counted", Duration.ofSeconds(5), () -> p.listeners().get(0).route().resets() == 1);
    }

    @Test
    void clientResetIsCarriedAsResetToBackend() throws Exception {
        AtomicReference<Throwable> backendSaw = new AtomicReference<>();
        TcpServer server = h.add(new TcpServer(s -> {
            try {
                InputStream in = s.getInputStream();
                while (in.read() >= 0) {
                    // until the reset
                }
                backendSaw.set(new IllegalStateException("clean EOF"));
            } catch (IOException e) {
                backendSaw.set(e);
            }
        }));
        Proxy p = h.start("proxy.backends", server.address());
        Socket s = connect(p, null);
        s.getOutputStream().write(new byte[100]);
        await("backend connected", Duration.ofSeconds(5), () -> server.openConnections() == 1);
        s.setSoLinger(true, 0);
        s.close();
        await("backend saw the end", Duration.ofSeconds(5), () -> backendSaw.get() != null);
        assertTrue(backendSaw.get() instanceof SocketException && backendSaw.get().getMessage().toLowerCase().contains("reset"),
                String.valueOf(backendSaw.get()));
    }

    @Test
    void refusedBackendFailsOverToTheNextOne() throws Exception {
        int dead = freePort();
        TcpServer alive = h.add(TcpServer.named("alive"));
        Proxy p = h.start("proxy.backends", "127.0.0.1:" + dead + "," + alive.address(), "proxy.balance", "round-robin",
                "proxy.health.passive", "false");
        for (int i = 0; i < 10; i++) {
            try (Socket s = connect(p, null)) {
                assertEquals("alive", ProxyHarness.readLine(s.getInputStream()));
            }
        }
        Route r = p.listeners().get(0).route();
        assertTrue(r.connectFailures() >= 4, "round robin sent about half to the dead one: " + r.connectFailures());
        assertEquals(0, r.noBackend());
    }

    @Test
    void allBackendsDownClosesTheClientPromptly() throws Exception {
        Proxy p = h.start("proxy.backends", "127.0.0.1:" + freePort() + ",127.0.0.1:" + freePort(),
                "proxy.connect.attempts", "5", "proxy.health.passive", "false");
        for (int i = 0; i < 5; i++) {
            long start = System.nanoTime();
            try (Socket s = connect(p, null)) {
                assertEquals(-1, s.getInputStream().read(), "closed without data");
            } catch (SocketException e) {
                // a reset is an acceptable prompt close too
            }
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(ms < 1000, "closed after " + ms + " ms");
        }
        Route r = p.listeners().get(0).route();
        assertEquals(5, r.noBackend());
        assertEquals(10, r.connectFailures(), "two backends tried per client, never the same twice");
    }

    @Test
    void blackHoledBackendTimesOutAndTheNextIsTried() throws Exception {
        // A listener whose backlog is full never completes a SYN: connects to it hang like a black hole. Fill it
        // with sockets nobody accepts (the exact count the kernel allows varies; keep adding until one stalls).
        try (ServerSocket hole = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            java.util.List<Socket> fillers = new java.util.ArrayList<>();
            try {
                boolean stalled = false;
                for (int i = 0; i < 16 && !stalled; i++) {
                    Socket f = new Socket();
                    fillers.add(f);
                    try {
                        f.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), hole.getLocalPort()), 300);
                    } catch (IOException timeout) {
                        stalled = true;
                    }
                }
                org.junit.jupiter.api.Assumptions.assumeTrue(stalled, "this kernel never stalls a full backlog");
                TcpServer alive = h.add(TcpServer.named("alive"));
                Proxy p = h.start("proxy.backends", "127.0.0.1:" + hole.getLocalPort() + "," + alive.address(),
                        "proxy.balance", "round-robin", "proxy.connect.timeout", "300ms", "proxy.workers", "1",
                        "proxy.health.passive", "false");
                long start = System.nanoTime();
                for (int i = 0; i < 2; i++) {
                    try (Socket s = connect(p, null)) {
                        assertEquals("alive", ProxyHarness.readLine(s.getInputStream()));
                    }
                }
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                Route r = p.listeners().get(0).route();
                long timeouts = r.connectTimeouts();
                // Round robin advances per pick, retries included: each client may meet the hole first.
                assertTrue(timeouts >= 1 && timeouts <= 2, "connect timeouts: " + timeouts);
                assertEquals(timeouts, r.connectFailures(), "every failure here was a timeout");
                assertTrue(ms >= 250 * timeouts && ms < 3000, timeouts + " connect timeouts of 300 ms took " + ms + " ms");
            } finally {
                for (Socket f : fillers) {
                    f.close();
                }
            }
        }
    }

    @Test
    void clientThatReadsNothingKeepsBalancerMemoryBounded() throws Exception {
        int size = 32 << 20;
        byte[] stream = randomBytes(size, 9);
        TcpServer server = h.add(new TcpServer(s -> {
            OutputStream out = s.getOutputStream();
            for (int off = 0; off < size; off += 1 << 16) {
                out.write(stream, off, 1 << 16);
            }
            s.shutdownOutput();
            s.getInputStream().read();
        }));
        Proxy p = h.start("proxy.backends", server.address(), "proxy.workers", "1");
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(4096);
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), ProxyHarness.port(p)));
            // Let the backend fill every kernel buffer on the way; the balancer must hold at most one buffer.
            Thread.sleep(1500);
            int held = p.buffersInUse();
            assertTrue(held <= 1, "buffers held while the client does not read: " + held);
            assertEquals(1, p.sessions());
            byte[] got = sha256(s.getInputStream());
            assertArrayEquals(sha256(stream), got, "the stream completes once the client reads");
        }
    }

    @Test
    void manyConcurrentSessionsAllCompleteWithoutCrossTalk() throws Exception {
        TcpServer echo = h.add(TcpServer.echo());
        Proxy p = h.start("proxy.backends", echo.address());
        int clients = 50;
        // Own threads: every client blocks on I/O and waits for its writer, so a shared pool (the common pool has
        // one thread on two cores, and JDK 25's CompletableFuture uses it) would deadlock the test itself.
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newCachedThreadPool();
        CompletableFuture<?>[] all = new CompletableFuture<?>[clients];
        for (int i = 0; i < clients; i++) {
            int id = i;
            all[i] = CompletableFuture.runAsync(() -> {
                byte[] data = randomBytes(100_000 + id * 997, 100 + id);
                try (Socket s = connect(p, null)) {
                    CompletableFuture<Void> w = CompletableFuture.runAsync(() -> {
                        try {
                            s.getOutputStream().write(data);
                            s.shutdownOutput();
                        } catch (IOException e) {
                            throw new RuntimeException(e);
                        }
                    }, pool);
                    byte[] back = s.getInputStream().readAllBytes();
                    w.join();
                    if (!Arrays.equals(data, back)) {
                        throw new AssertionError("client " + id + " got other bytes back");
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, pool);
        }
        try {
            CompletableFuture.allOf(all).get(60, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        assertEquals(clients, p.listeners().get(0).route().accepted());
    }

    static byte[] randomBytes(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }

    static byte[] sha256(InputStream in) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return md.digest();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

}
