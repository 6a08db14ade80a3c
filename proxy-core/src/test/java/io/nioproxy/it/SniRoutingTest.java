package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.relay.Route;
import io.nioproxy.relay.Session;
import io.nioproxy.testing.FaultProxy;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TlsPeers;
import io.nioproxy.tls.Hellos;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static io.nioproxy.testing.ProxyHarness.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One port for several TLS services, chosen by the server name of the client's ClientHello and never decrypted: real
 * TLS on both ends (the JDK's {@code SSLServerSocket} behind, the JDK's {@code SSLSocket} and OpenSSL's
 * {@code s_client} in front), each backend with its own certificate, which the client must receive and verify.
 */
class SniRoutingTest {
    @TempDir
    static Path dir;
    static TlsPeers peers;
    static TlsPeers.EchoServer chat;
    static TlsPeers.EchoServer api;
    static TlsPeers.EchoServer fallback;
    static Path chatStore;

    @BeforeAll
    static void backends() throws Exception {
        peers = new TlsPeers(dir);
        chatStore = peers.keyStore("chat.example.com");
        chat = new TlsPeers.EchoServer(chatStore);
        api = new TlsPeers.EchoServer(peers.keyStore("api.example.com", "*.api.example.com"));
        fallback = new TlsPeers.EchoServer(peers.keyStore("default.example.com"));
    }

    @AfterAll
    static void stop() throws Exception {
        chat.close();
        api.close();
        fallback.close();
    }

    /** Three pools; exact and wildcard rules; a default pool for every other hello. */
    private static Proxy start(ProxyHarness h, String... more) {
        List<String> kv = new java.util.ArrayList<>(List.of("proxy.pools", "chat,api,fallback",
                "proxy.pool.chat.backends", chat.address(), "proxy.pool.api.backends", api.address(),
                "proxy.pool.fallback.backends", fallback.address(),
                "proxy.sni.routes", "chat.example.com=chat,api.example.com=api,*.api.example.com=api",
                "proxy.sni.default", "fallback"));
        kv.addAll(List.of(more));
        return h.start(kv.toArray(String[]::new));
    }

    private static Socket plain(Proxy p) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), ProxyHarness.port(p));
        s.setTcpNoDelay(true);
        s.setSoTimeout(10_000);
        return s;
    }

    /** 64 KiB of seeded bytes through the TLS session and back, byte-exact. */
    private static void echo(SSLSocket s, long seed) throws IOException {
        byte[] data = new byte[64 << 10];
        new SplittableRandom(seed).nextBytes(data);
        OutputStream out = s.getOutputStream();
        out.write(data);
        out.flush();
        byte[] back = s.getInputStream().readNBytes(data.length);
        assertArrayEquals(data, back, "the echo, byte for byte");
    }

    /** Connects through the balancer asking for {@code name}; returns the CN of the certificate that came back. */
    private static String reach(Proxy p, String name) throws Exception {
        try (SSLSocket s = peers.client(plain(p), name)) {
            echo(s, name == null ? 0 : name.hashCode());
            return TlsPeers.peerName(s);
        }
    }

    @Test
    void eachNameReachesItsPoolWithItsBackendsCertificate() throws Exception {
        Path log = dir.resolve("access-" + System.nanoTime() + ".log");
        try (ProxyHarness h = new ProxyHarness()) {
            Proxy p = start(h, "proxy.access.log", log.toString());
            assertEquals("chat.example.com", reach(p, "chat.example.com"));
            assertEquals("chat.example.com", reach(p, "CHAT.Example.com"), "names are matched case-insensitively");
            assertEquals("api.example.com", reach(p, "api.example.com"));
            assertEquals("api.example.com", reach(p, "eu.api.example.com"), "a wildcard");
            assertEquals("api.example.com", reach(p, "a.b.api.example.com"), "a wildcard, at any depth");
            assertEquals("default.example.com", reach(p, "unknown.example.net"), "no rule: the default pool");
            assertEquals("default.example.com", reach(p, null), "no server name: the default pool");
            assertEquals(2, p.listener("chat").route().accepted());
            assertEquals(3, p.listener("api").route().accepted());
            assertEquals(2, p.listener("fallback").route().accepted());
            Route front = p.listeners().get(0).route();
            assertEquals(7, front.accepted(), "the listener counts every session it accepted");
            await("sessions counted as ended", Duration.ofSeconds(10), () -> front.closed() == 7
                    && p.listener("chat").route().closed() == 2);
        }
        String lines = Files.readString(log);
        assertTrue(lines.contains("listener=default sni=eu.api.example.com pool=api "), lines);
        assertTrue(lines.contains("listener=default sni=- pool=fallback "), "no name: " + lines);
        assertTrue(lines.contains("sni=chat.example.com pool=chat client=127.0.0.1:"), lines);
    }

    @Test
    void aHelloSentOneByteAtATimeIsRoutedAndDeliveredWhole() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            Proxy p = start(h);
            try (FaultProxy slicer = new FaultProxy(new InetSocketAddress("127.0.0.1", ProxyHarness.port(p)),
                    FaultProxy.Fault.SLICE_FIRST_FORWARD, 3000)) {
                int port = Integer.parseInt(slicer.address().substring(slicer.address().lastIndexOf(':') + 1));
                Socket s0 = new Socket(InetAddress.getLoopbackAddress(), port);
                try (SSLSocket s = peers.client(s0, "x.api.example.com")) {
                    assertEquals("api.example.com", TlsPeers.peerName(s));
                    echo(s, 7);
                }
            }
        }
    }

    /** A Java-WebSocket server over TLS behind; its client in front asks for wss://chat.example.com/. */
    @Test
    void aWebSocketOverTlsEchoesByteExactThroughARealLibrary() throws Exception {
        WssEcho server = new WssEcho(ProxyHarness.freePort());
        server.setWebSocketFactory(new org.java_websocket.server.DefaultSSLWebSocketServerFactory(
                TlsPeers.serverContext(chatStore)));
        server.start();
        server.started.get(10, TimeUnit.SECONDS);
        try (ProxyHarness h = new ProxyHarness()) {
            h.ignoreSocketsOnPort(server.getPort()); // the library's own sockets, closed on its schedule
            Proxy p = h.start("proxy.pools", "wss,fallback", "proxy.pool.wss.backends", "127.0.0.1:" + server.getPort(),
                    "proxy.pool.fallback.backends", fallback.address(), "proxy.sni.routes", "chat.example.com=wss",
                    "proxy.sni.default", "fallback");
            java.util.concurrent.LinkedBlockingQueue<java.nio.ByteBuffer> got = new java.util.concurrent.LinkedBlockingQueue<>();
            org.java_websocket.client.WebSocketClient client = new org.java_websocket.client.WebSocketClient(
                    java.net.URI.create("wss://chat.example.com:" + ProxyHarness.port(p) + "/")) {
                @Override
                public void onOpen(org.java_websocket.handshake.ServerHandshake handshake) {
                }

                @Override
                public void onMessage(String message) {
                }

                @Override
                public void onMessage(java.nio.ByteBuffer bytes) {
                    got.add(bytes);
                }

                @Override
                public void onClose(int code, String reason, boolean remote) {
                }

                @Override
                public void onError(Exception ex) {
                }
            };
            // the name is only for TLS (SNI and the certificate's host name check); the TCP connection goes to the
            // balancer: a TLS socket layered on it with that name, handed to the library, which then speaks wss over it
            SSLSocket tls = (SSLSocket) peers.clientContext().getSocketFactory().createSocket(plain(p),
                    "chat.example.com", ProxyHarness.port(p), true);
            javax.net.ssl.SSLParameters params = tls.getSSLParameters();
            params.setEndpointIdentificationAlgorithm("HTTPS");
            tls.setSSLParameters(params);
            client.setSocket(tls);
            assertTrue(client.connectBlocking(10, TimeUnit.SECONDS), "the wss:// handshake through the balancer");
            SplittableRandom r = new SplittableRandom(99);
            for (int i = 0; i < 50; i++) {
                byte[] m = new byte[1 + r.nextInt(70_000)];
                r.nextBytes(m);
                client.send(m);
                java.nio.ByteBuffer back = got.poll(10, TimeUnit.SECONDS);
                assertTrue(back != null, "echo of message " + i);
                byte[] b = new byte[back.remaining()];
                back.get(b);
                assertArrayEquals(m, b, "message " + i + " byte for byte");
            }
            client.closeBlocking();
            assertEquals(1, p.listener("wss").route().accepted());
        } finally {
            server.stop(1000);
        }
    }

    /** A WebSocket echo server (binary messages back as they came). */
    static final class WssEcho extends org.java_websocket.server.WebSocketServer {
        final java.util.concurrent.CompletableFuture<Void> started = new java.util.concurrent.CompletableFuture<>();

        WssEcho(int port) {
            super(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            setReuseAddr(true);
        }

        @Override
        public void onOpen(org.java_websocket.WebSocket conn, org.java_websocket.handshake.ClientHandshake hs) {
        }

        @Override
        public void onClose(org.java_websocket.WebSocket conn, int code, String reason, boolean remote) {
        }

        @Override
        public void onMessage(org.java_websocket.WebSocket conn, String message) {
            conn.send(message);
        }

        @Override
        public void onMessage(org.java_websocket.WebSocket conn, java.nio.ByteBuffer message) {
            conn.send(message);
        }

        @Override
        public void onError(org.java_websocket.WebSocket conn, Exception ex) {
        }

        @Override
        public void onStart() {
            started.complete(null);
        }
    }

    @Test
    void openSslAsksByNameAndGetsThatBackendsCertificate() throws Exception {
        Path pem = peers.pem(chatStore);
        try (ProxyHarness h = new ProxyHarness()) {
            Proxy p = start(h);
            Process s = new ProcessBuilder("openssl", "s_client", "-connect", "127.0.0.1:" + ProxyHarness.port(p),
                    "-servername", "chat.example.com", "-CAfile", pem.toString(), "-verify_return_error",
                    "-verify_hostname", "chat.example.com").redirectErrorStream(true).start();
            OutputStream in = s.getOutputStream();
            in.write("hello through openssl\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
            // s_client echoes what the server sends; wait for our line to come back, then end its input
            StringBuilder out = new StringBuilder();
            InputStream o = s.getInputStream();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!out.toString().contains("\nhello through openssl") && System.nanoTime() < deadline) {
                int c = o.read();
                if (c < 0) {
                    break;
                }
                out.append((char) c);
            }
            in.close();
            s.getInputStream().transferTo(OutputStream.nullOutputStream());
            assertTrue(s.waitFor(20, TimeUnit.SECONDS));
            String text = out.toString();
            assertTrue(text.contains("CN = chat.example.com") || text.contains("CN=chat.example.com"), text);
            assertTrue(text.contains("Verify return code: 0 (ok)"), text);
            assertTrue(text.contains("\nhello through openssl"), "the echo came back: " + text);
        }
    }

    @Test
    void aTrustedProxyHeaderComesBeforeTheHello() throws Exception {
        Path log = dir.resolve("access-proxy-" + System.nanoTime() + ".log");
        try (ProxyHarness h = new ProxyHarness()) {
            Proxy p = start(h, "proxy.proxyprotocol.trusted", "127.0.0.1/32", "proxy.access.log", log.toString());
            Socket raw = plain(p);
            raw.getOutputStream().write("PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            try (SSLSocket s = peers.client(raw, "chat.example.com")) {
                assertEquals("chat.example.com", TlsPeers.peerName(s));
                echo(s, 3);
            }
        }
        String lines = Files.readString(log);
        assertTrue(lines.contains("sni=chat.example.com pool=chat client=203.0.113.7:40000"), lines);
    }

    @Test
    void whatIsNotAWholeHelloIsClosedCountedAndHarmsNoOtherSession() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            Proxy p = start(h, "proxy.sni.timeout", "700ms", "proxy.sni.max", "1k", "proxy.admin", "127.0.0.1:0");
            Route front = p.listeners().get(0).route();
            int backendsBefore = chat.accepted() + api.accepted() + fallback.accepted();
            try (SSLSocket live = peers.client(plain(p), "chat.example.com")) {
                echo(live, 11);

                // plain HTTP on a TLS-routing listener
                assertClosed(p, "GET / HTTP/1.1\r\nHost: chat.example.com\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                // garbage
                byte[] garbage = new byte[300];
                new SplittableRandom(5).nextBytes(garbage);
                garbage[0] = 0x42;
                assertClosed(p, garbage);
                // a PROXY header from a client not trusted to send one
                assertClosed(p, "PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\n".getBytes(StandardCharsets.US_ASCII));
                // a hello cut short by the client's end
                byte[] hello = Hellos.jdk("chat.example.com");
                try (Socket s = plain(p)) {
                    s.getOutputStream().write(Arrays.copyOf(hello, hello.length / 2));
                    s.shutdownOutput();
                    assertEquals(-1, ProxyHarness.readOrReset(s), "closed: the hello never came whole");
                }
                // a hello over sni.max (1k): a real hello with many ALPN protocols
                String[] alpn = new String[60];
                Arrays.setAll(alpn, i -> "a-long-application-protocol-name-" + i);
                byte[] big = Hellos.jdk("chat.example.com", alpn);
                assertTrue(big.length > 1024);
                assertClosed(p, big);
                // a slow hello: part of it, then nothing, closed at the deadline
                try (Socket s = plain(p)) {
                    long t0 = System.nanoTime();
                    s.getOutputStream().write(Arrays.copyOf(hello, 20));
                    assertEquals(-1, ProxyHarness.readOrReset(s), "closed at the deadline");
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    assertTrue(ms >= 600, "not before sni.timeout (700 ms): " + ms + " ms");
                }
                // a silent client: the same deadline
                try (Socket s = plain(p)) {
                    assertEquals(-1, ProxyHarness.readOrReset(s), "a client that sends nothing is closed too");
                }

                echo(live, 12); // the session that was there all along is untouched
            }
            await("every session counted", Duration.ofSeconds(10), () -> front.closed() == 8);
            assertEquals(3, front.closedFor(Session.CloseReason.NOT_TLS),
                    "plain HTTP, garbage, and an untrusted PROXY header (not TLS either)");
            assertEquals(1, front.closedFor(Session.CloseReason.HELLO_MALFORMED), "the cut hello");
            assertEquals(1, front.closedFor(Session.CloseReason.HELLO_TOO_LARGE), "the hello over the cap");
            assertEquals(2, front.closedFor(Session.CloseReason.HELLO_TIMEOUT), "the slow and the silent client");
            assertEquals(backendsBefore + 1, chat.accepted() + api.accepted() + fallback.accepted(),
                    "no rejected client reached a backend");
            String metrics = Http.request(p.adminAddress(), "GET", "/metrics").body();
            for (String reason : new String[] {"not_tls\"} 3", "hello_malformed\"} 1", "hello_too_large\"} 1",
                    "hello_timeout\"} 2"}) {
                assertTrue(metrics.contains("nioproxy_connections_closed_total{listener=\"default\",reason=\"" + reason),
                        reason + " in " + metrics);
            }
        }
    }

    /** {@code bytes} sent: the balancer closes the connection (FIN or reset) without a byte back. */
    private static void assertClosed(Proxy p, byte[] bytes) throws IOException {
        try (Socket s = plain(p)) {
            s.getOutputStream().write(bytes);
            assertEquals(-1, ProxyHarness.readOrReset(s), "closed without a reply");
        }
    }
}
