package io.nioproxy.protect;

import io.nioproxy.Proxy;
import io.nioproxy.proxyproto.ProxyProtocolEncoder;
import io.nioproxy.relay.Session;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readOrReset;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A PROXY header from a client that is not trusted to send one is refused however the client segments it: the
 * decision waits until enough bytes have arrived to tell (or the header deadline passes), and not one byte of the
 * header reaches a backend. Bytes that only begin like a signature are relayed unchanged once they are told apart.
 */
class ProxyHeaderSplitTest {
    private ProxyHarness h;
    /** Every byte any backend connection received, and the connections that ended. */
    private final AtomicLong backendBytes = new AtomicLong();
    private final AtomicInteger backendEnded = new AtomicInteger();
    private TcpServer backend;

    @BeforeEach
    void setUp() throws Exception {
        h = new ProxyHarness();
        // Echoes what it receives and counts it: a header that got through would be counted here.
        backend = h.add(new TcpServer(s -> {
            try {
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                byte[] buf = new byte[4096];
                int n;
                while ((n = in.read(buf)) > 0) {
                    backendBytes.addAndGet(n);
                    out.write(buf, 0, n);
                }
            } finally {
                backendEnded.incrementAndGet();
            }
        }));
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    /** Sends {@code bytes} as two segments split after {@code split} bytes, with a pause between them. */
    private static void sendSplit(Socket s, byte[] bytes, int split) throws Exception {
        OutputStream out = s.getOutputStream();
        out.write(bytes, 0, split);
        out.flush();
        Thread.sleep(15); // the balancer reads the first part alone (TCP_NODELAY is on: it leaves at once)
        out.write(bytes, split, bytes.length - split);
        out.flush();
    }

    private void refusesEverySplit(Proxy p, String source) throws Exception {
        InetSocketAddress spoofed = new InetSocketAddress("6.6.6.6", 1111);
        InetSocketAddress dst = new InetSocketAddress("127.0.0.1", ProxyHarness.port(p));
        byte[] payload = "GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        byte[][] headers = {ProxyProtocolEncoder.v1(spoofed, dst), ProxyProtocolEncoder.v2(spoofed, dst)};
        int clients = 0;
        for (byte[] header : headers) {
            byte[] all = concat(header, payload);
            for (int split = 1; split < header.length; split++) {
                try (Socket s = connect(p, source)) {
                    sendSplit(s, all, split);
                    assertEquals(-1, readOrReset(s), "a header split after " + split + " bytes is refused");
                }
                clients++;
            }
        }
        var route = p.listeners().get(0).route();
        int expected = clients;
        await("every split refused", Duration.ofSeconds(10),
                () -> route.closedFor(Session.CloseReason.PROXY_HEADER_REJECTED) == expected);
        // each client's backend connect started at accept; wait for those connections to end before counting
        await("backend connections ended", Duration.ofSeconds(10), () -> backendEnded.get() == backend.accepted());
        assertEquals(0, backendBytes.get(), "not one byte of a refused header reached the backend");
    }

    @Test
    void refusesAnUntrustedHeaderSplitAtEveryPoint() throws Exception {
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.trusted", "127.0.0.0/24",
                "proxy.proxyprotocol.timeout", "2s");
        refusesEverySplit(p, "127.0.1.9"); // outside the trusted range
    }

    @Test
    void refusesAClientHeaderOnAListenerWithNoTrustedRanges() throws Exception {
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.timeout", "2s");
        refusesEverySplit(p, "127.0.0.9");
    }

    @Test
    void bytesThatOnlyBeginLikeASignatureAreRelayedWhole() throws Exception {
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.timeout", "2s");
        byte[] v2Prefix = Arrays.copyOf(ProxyProtocolEncoder.v2(new InetSocketAddress("6.6.6.6", 1),
                new InetSocketAddress("127.0.0.1", 2)), 11);
        byte[][] messages = {
                "PROXIMA CENTAURI\r\n".getBytes(StandardCharsets.US_ASCII),
                "PROXY\r\n".getBytes(StandardCharsets.US_ASCII),
                concat(v2Prefix, "x-not-a-header".getBytes(StandardCharsets.US_ASCII)),
        };
        long sent = 0;
        for (byte[] m : messages) {
            int lastSplit = m[0] == 'P' ? 6 : 11;
            for (int split = 1; split <= lastSplit; split++) {
                try (Socket s = connect(p, null)) {
                    sendSplit(s, m, split);
                    assertArrayEquals(m, s.getInputStream().readNBytes(m.length), "split after " + split);
                }
                sent += m.length;
            }
        }
        long total = sent;
        await("the backend received every byte", Duration.ofSeconds(5), () -> backendBytes.get() == total);
    }

    @Test
    void aSignaturePrefixThenSilenceIsClosedAtTheDeadlineAndOneThenFinIsRelayed() throws Exception {
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.timeout", "300ms");
        var route = p.listeners().get(0).route();
        long start = System.nanoTime();
        try (Socket s = connect(p, null)) {
            s.getOutputStream().write("PROX".getBytes(StandardCharsets.US_ASCII));
            assertEquals(-1, readOrReset(s), "closed at the header deadline");
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms >= 250, "header deadline 300 ms, closed after " + ms + " ms");
        await("counted as a header timeout", Duration.ofSeconds(5),
                () -> route.closedFor(Session.CloseReason.PROXY_HEADER_TIMEOUT) == 1);
        // a client that ends after a prefix can send nothing more: its bytes are not a header, they are relayed
        try (Socket s = connect(p, null)) {
            s.getOutputStream().write("PRO".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            s.getInputStream().transferTo(got);
            assertEquals("PRO", got.toString(StandardCharsets.US_ASCII));
        }
        await("the backend received the prefix only", Duration.ofSeconds(5), () -> backendBytes.get() == 3);
        assertEquals(0, route.closedFor(Session.CloseReason.PROXY_HEADER_REJECTED));
    }
}
