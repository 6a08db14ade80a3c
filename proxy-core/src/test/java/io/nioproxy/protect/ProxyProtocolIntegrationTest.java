package io.nioproxy.protect;

import io.nioproxy.Proxy;
import io.nioproxy.proxyproto.ProxyHeader;
import io.nioproxy.proxyproto.ProxyProtocolEncoder;
import io.nioproxy.proxyproto.ProxyProtocolParser;
import io.nioproxy.relay.Session;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readOrReset;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PROXY protocol on real sockets: sent to backends, accepted from trusted sources, refused from everyone else. */
class ProxyProtocolIntegrationTest {
    private ProxyHarness h;
    /** What the backend received first on each connection: the PROXY header (parsed) then the payload. */
    private final LinkedBlockingQueue<Object[]> seen = new LinkedBlockingQueue<>();
    private TcpServer backend;

    @BeforeEach
    void setUp() throws Exception {
        h = new ProxyHarness();
        // A backend that expects a PROXY header, parses it with our own parser, then echoes the rest.
        backend = h.add(new TcpServer(s -> {
            InputStream in = s.getInputStream();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            ProxyHeader header = null;
            while (header == null) {
                int b = in.read();
                if (b < 0) {
                    return;
                }
                buf.put((byte) b);
                ByteBuffer view = buf.duplicate().flip();
                try {
                    header = ProxyProtocolParser.parse(view, 4096);
                } catch (Exception e) {
                    seen.add(new Object[] {e});
                    return;
                }
            }
            byte[] payload = in.readNBytes(5);
            seen.add(new Object[] {header, payload});
            s.getOutputStream().write(payload);
            in.read();
        }));
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
    }

    @Test
    void sendsV1AndV2WithTheRealClientAddress() throws Exception {
        for (String version : new String[] {"v1", "v2"}) {
            Proxy p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.send", version);
            try (Socket s = connect(p, "127.0.0.77")) {
                s.getOutputStream().write("hello".getBytes());
                assertArrayEquals("hello".getBytes(), s.getInputStream().readNBytes(5));
                Object[] got = seen.poll(5, TimeUnit.SECONDS);
                assertNotNull(got);
                ProxyHeader header = (ProxyHeader) got[0];
                assertEquals(new InetSocketAddress("127.0.0.77", s.getLocalPort()), header.source(), version);
                assertEquals(new InetSocketAddress("127.0.0.1", ProxyHarness.port(p)), header.destination(), version);
                assertArrayEquals("hello".getBytes(), (byte[]) got[1], "the payload follows the header untouched");
            }
        }
    }

    @Test
    void acceptsAHeaderFromATrustedSourceUsesItsAddressAndForwardsIt() throws Exception {
        // Front balancer: trusts 127.0.0.0/8, sends v2 on; the carried address reaches the backend.
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.trusted", "127.0.0.0/8",
                "proxy.proxyprotocol.send", "v2");
        InetSocketAddress carried = new InetSocketAddress(InetAddress.getByName("203.0.113.9"), 40000);
        InetSocketAddress carriedDst = new InetSocketAddress(InetAddress.getByName("198.51.100.1"), 443);
        byte[] header = ProxyProtocolEncoder.v1(carried, carriedDst);
        try (Socket s = connect(p, null)) {
            // the header split at every few bytes, the payload in the same segment as its tail
            byte[] all = ByteBuffer.allocate(header.length + 5).put(header).put("world".getBytes()).array();
            for (int i = 0; i < all.length; i += 7) {
                s.getOutputStream().write(Arrays.copyOfRange(all, i, Math.min(all.length, i + 7)));
                s.getOutputStream().flush();
                Thread.sleep(5);
            }
            assertArrayEquals("world".getBytes(), s.getInputStream().readNBytes(5));
            Object[] got = seen.poll(5, TimeUnit.SECONDS);
            ProxyHeader forwarded = (ProxyHeader) got[0];
            assertEquals(carried, forwarded.source(), "the backend sees the original client");
            assertEquals(carriedDst, forwarded.destination());
            assertArrayEquals("world".getBytes(), (byte[]) got[1]);
        }
        // LOCAL (a health check of the front balancer): the socket's own address is used
        try (Socket s = connect(p, "127.0.0.5")) {
            s.getOutputStream().write(ProxyProtocolEncoder.v2Local());
            s.getOutputStream().write("local".getBytes());
            assertArrayEquals("local".getBytes(), s.getInputStream().readNBytes(5));
            ProxyHeader forwarded = (ProxyHeader) seen.poll(5, TimeUnit.SECONDS)[0];
            assertEquals(new InetSocketAddress("127.0.0.5", s.getLocalPort()), forwarded.source(),
                    "a valid header even when the inbound one was LOCAL");
        }
    }

    @Test
    void refusesMalformedLateAndUntrustedHeadersAndCountsThem() throws Exception {
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.trusted", "127.0.0.0/24",
                "proxy.proxyprotocol.timeout", "300ms", "proxy.proxyprotocol.send", "v1");
        try (Socket s = connect(p, "127.0.0.2")) {
            s.getOutputStream().write("PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n".getBytes());
            assertEquals(-1, readOrReset(s), "malformed: closed");
        }
        long start = System.nanoTime();
        try (Socket s = connect(p, "127.0.0.3")) {
            s.getOutputStream().write("PROXY TCP4 1.2".getBytes()); // slowloris: half a header, then nothing
            assertEquals(-1, readOrReset(s), "closed at the header deadline");
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms >= 250 && ms < 2000, "header deadline 300 ms, closed after " + ms);
        // 127.0.1.x is outside the trusted range: a header from there is refused
        try (Socket s = connect(p, "127.0.1.4")) {
            s.getOutputStream().write(ProxyProtocolEncoder.v1(new InetSocketAddress("203.0.113.9", 1),
                    new InetSocketAddress("203.0.113.10", 2)));
            assertEquals(-1, readOrReset(s), "untrusted header refused");
        }
        // ...while a plain client from there is relayed normally (the backend gets our v1 header for it)
        try (Socket s = connect(p, "127.0.1.5")) {
            s.getOutputStream().write("plain".getBytes());
            assertArrayEquals("plain".getBytes(), s.getInputStream().readNBytes(5));
        }
        var r = p.listeners().get(0).route();
        await("rejections counted", Duration.ofSeconds(5), () -> r.proxyRejected() == 3);
        assertEquals(2, r.closedFor(Session.CloseReason.PROXY_HEADER_REJECTED));
        assertEquals(1, r.closedFor(Session.CloseReason.PROXY_HEADER_TIMEOUT));
        // The trusted-range rejections never reached the backend (the header comes before any connect). The
        // untrusted client's connection did — its backend connect starts at accept — but not one of its bytes: the
        // backend saw our header for 127.0.1.4, then the end.
        // The two backend connections finish on their own threads: sort their records by source, not by arrival.
        java.util.Map<String, Object[]> bySource = new java.util.HashMap<>();
        for (int i = 0; i < 2; i++) {
            Object[] rec = seen.poll(5, TimeUnit.SECONDS);
            assertNotNull(rec, "two backend connections");
            bySource.put(((ProxyHeader) rec[0]).source().getAddress().getHostAddress(), rec);
        }
        assertEquals(0, ((byte[]) bySource.get("127.0.1.4")[1]).length, "the forged header was not forwarded");
        assertArrayEquals("plain".getBytes(), (byte[]) bySource.get("127.0.1.5")[1]);
        assertNull(seen.poll(200, TimeUnit.MILLISECONDS), "the trusted-range rejections never reached the backend");
    }

}
