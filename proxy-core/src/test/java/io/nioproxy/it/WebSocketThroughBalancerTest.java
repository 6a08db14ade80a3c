package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.testing.ProxyHarness;
import org.java_websocket.WebSocket;
import org.java_websocket.handshake.ClientHandshake;
import org.java_websocket.server.WebSocketServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real WebSocket peers through the balancer: the JDK's {@code java.net.http} client and the Java-WebSocket server
 * library as the backend, echoing. Text and binary messages of sizes around the relay buffer, every byte checked.
 */
class WebSocketThroughBalancerTest {
    private static final int BUFFER = 16384;
    private static final int[] SIZES = {0, 1, BUFFER - 1, BUFFER, BUFFER + 1, 1 << 20};

    /** One client for the class, made before any test's descriptor baseline (JDK 17 has no HttpClient.close). */
    private static final HttpClient http = HttpClient.newHttpClient();

    private ProxyHarness h;
    private EchoServer server;

    /** A WebSocket echo backend; counts the connections it saw. */
    static final class EchoServer extends WebSocketServer {
        final CountDownLatch started = new CountDownLatch(1);
        volatile int opened;

        EchoServer() {
            super(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            setReuseAddr(true);
        }

        @Override
        public void onOpen(WebSocket conn, ClientHandshake handshake) {
            opened++;
        }

        @Override
        public void onClose(WebSocket conn, int code, String reason, boolean remote) {
        }

        @Override
        public void onMessage(WebSocket conn, String message) {
            conn.send(message);
        }

        @Override
        public void onMessage(WebSocket conn, ByteBuffer message) {
            conn.send(message);
        }

        @Override
        public void onError(WebSocket conn, Exception ex) {
        }

        @Override
        public void onStart() {
            started.countDown();
        }
    }

    /** Collects whole messages (the JDK client may deliver one in parts). */
    static final class Collector implements java.net.http.WebSocket.Listener {
        final LinkedBlockingQueue<Object> messages = new LinkedBlockingQueue<>();
        final CompletableFuture<Integer> closed = new CompletableFuture<>();
        private final StringBuilder text = new StringBuilder();
        private java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();

        @Override
        public void onOpen(java.net.http.WebSocket ws) {
            ws.request(1);
        }

        @Override
        public CompletionStage<?> onText(java.net.http.WebSocket ws, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                messages.add(text.toString());
                text.setLength(0);
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(java.net.http.WebSocket ws, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            binary.writeBytes(b);
            if (last) {
                messages.add(binary.toByteArray());
                binary = new java.io.ByteArrayOutputStream();
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(java.net.http.WebSocket ws, int statusCode, String reason) {
            closed.complete(statusCode);
            return null;
        }

        @Override
        public void onError(java.net.http.WebSocket ws, Throwable error) {
            closed.completeExceptionally(error);
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        server = new EchoServer();
        server.start();
        assertTrue(server.started.await(10, TimeUnit.SECONDS));
        h = new ProxyHarness();
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
        server.stop(2000);
    }

    @Test
    void textAndBinaryMessagesOfEverySizeComeBackByteExact() throws Exception {
        Proxy p = h.start("proxy.backends", "127.0.0.1:" + server.getPort(), "proxy.buffer.size", String.valueOf(BUFFER));
        Collector c = new Collector();
        java.net.http.WebSocket ws = http.newWebSocketBuilder()
                .buildAsync(URI.create("ws://127.0.0.1:" + ProxyHarness.port(p) + "/chat"), c)
                .get(10, TimeUnit.SECONDS);
        Random r = new Random(7);
        for (int size : SIZES) {
            String text = randomText(r, size);
            ws.sendText(text, true).get(10, TimeUnit.SECONDS);
            Object got = c.messages.poll(20, TimeUnit.SECONDS);
            assertNotNull(got, "text echo of " + size + " chars");
            assertEquals(text, got, "text message of " + size + " chars");

            byte[] bin = new byte[size];
            r.nextBytes(bin);
            ws.sendBinary(ByteBuffer.wrap(bin), true).get(10, TimeUnit.SECONDS);
            got = c.messages.poll(20, TimeUnit.SECONDS);
            assertNotNull(got, "binary echo of " + size + " bytes");
            assertArrayEquals(bin, (byte[]) got, "binary message of " + size + " bytes");
        }
        ws.sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "done").get(10, TimeUnit.SECONDS);
        assertEquals(java.net.http.WebSocket.NORMAL_CLOSURE, c.closed.get(10, TimeUnit.SECONDS));
        assertEquals(1, server.opened, "one upgrade, one backend connection for the whole conversation");
        ProxyHarness.await("session ended", java.time.Duration.ofSeconds(10), () -> p.sessions() == 0);
    }

    @Test
    void manyWebSocketsAtOnceEachGetTheirOwnEchoes() throws Exception {
        Proxy p = h.start("proxy.backends", "127.0.0.1:" + server.getPort());
        int clients = 40;
        java.net.http.WebSocket[] sockets = new java.net.http.WebSocket[clients];
        Collector[] collectors = new Collector[clients];
        for (int i = 0; i < clients; i++) {
            collectors[i] = new Collector();
            sockets[i] = http.newWebSocketBuilder()
                    .buildAsync(URI.create("ws://127.0.0.1:" + ProxyHarness.port(p) + "/"), collectors[i])
                    .get(10, TimeUnit.SECONDS);
        }
        for (int round = 0; round < 20; round++) {
            for (int i = 0; i < clients; i++) {
                sockets[i].sendText("client " + i + " round " + round, true).get(10, TimeUnit.SECONDS);
            }
        }
        for (int i = 0; i < clients; i++) {
            for (int round = 0; round < 20; round++) {
                assertEquals("client " + i + " round " + round, collectors[i].messages.poll(10, TimeUnit.SECONDS));
            }
        }
        for (java.net.http.WebSocket ws : sockets) {
            ws.sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "").get(10, TimeUnit.SECONDS);
        }
        for (Collector c : collectors) {
            c.closed.get(10, TimeUnit.SECONDS);
        }
    }

    static String randomText(Random r, int size) {
        StringBuilder sb = new StringBuilder(size);
        // Mostly ASCII with some multi-byte characters, so frames split inside UTF-8 sequences too.
        while (sb.length() < size) {
            int k = r.nextInt(20);
            sb.append(k == 0 ? 'é' : k == 1 ? '€' : (char) ('a' + r.nextInt(26)));
        }
        return sb.toString();
    }
}
