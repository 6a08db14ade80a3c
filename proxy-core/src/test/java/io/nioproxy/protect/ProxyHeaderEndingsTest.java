package io.nioproxy.protect;

import io.nioproxy.Proxy;
import io.nioproxy.proxyproto.ProxyProtocolEncoder;
import io.nioproxy.relay.Route;
import io.nioproxy.relay.Session;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readOrReset;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A trusted source that does not deliver its PROXY header: closes or resets before it or in its middle, sends
 * something else, or sends nothing. Each ends that session with its own reason, never reaches a backend, and leaves
 * nothing behind (the harness checks sessions, buffers and descriptors).
 */
class ProxyHeaderEndingsTest {
    private ProxyHarness h;
    private TcpServer backend;
    private Proxy p;
    private Route route;
    private final byte[] header = ProxyProtocolEncoder.v1(new InetSocketAddress("203.0.113.9", 40000),
            new InetSocketAddress("198.51.100.1", 443));

    @BeforeEach
    void setUp() throws Exception {
        h = new ProxyHarness();
        backend = h.add(TcpServer.echo());
        p = h.start("proxy.backends", backend.address(), "proxy.proxyprotocol.trusted", "127.0.0.0/8",
                "proxy.proxyprotocol.timeout", "500ms");
        route = p.listeners().get(0).route();
    }

    @AfterEach
    void tearDown() throws Exception {
        assertEquals(0, backend.accepted(), "no backend was contacted for a client without its header");
        h.close();
    }

    private void awaitClosed(Session.CloseReason reason, long count) {
        await(count + " closed as " + reason, Duration.ofSeconds(5), () -> route.closedFor(reason) == count);
    }

    @Test
    void closingBeforeAnyByteOrInTheMiddleOfTheHeaderIsARejection() throws Exception {
        try (Socket s = connect(p, null)) {
            s.shutdownOutput();
            assertEquals(-1, readOrReset(s));
        }
        for (int cut : new int[] {1, 6, header.length - 1}) {
            try (Socket s = connect(p, null)) {
                s.getOutputStream().write(Arrays.copyOf(header, cut));
                s.shutdownOutput();
                assertEquals(-1, readOrReset(s), "a header cut after " + cut + " bytes");
            }
        }
        awaitClosed(Session.CloseReason.PROXY_HEADER_REJECTED, 4);
        assertEquals(4, route.proxyRejected());
    }

    @Test
    void aResetInTheMiddleOfTheHeaderIsTheClientsReset() throws Exception {
        for (int cut : new int[] {0, 3, header.length - 2}) {
            Socket s = connect(p, null);
            if (cut > 0) {
                s.getOutputStream().write(Arrays.copyOf(header, cut));
                s.getOutputStream().flush();
                Thread.sleep(50); // the balancer has read the part before the reset comes
            }
            s.setSoLinger(true, 0);
            s.close();
        }
        awaitClosed(Session.CloseReason.CLIENT_RESET, 3);
        // a reset that arrives after some bytes is read as a reset, never as a header
        assertEquals(0, route.closedFor(Session.CloseReason.PROXY_HEADER_TIMEOUT));
    }

    @Test
    void aTrustedSourceThatSendsPayloadInsteadOfAHeaderIsRejected() throws Exception {
        try (Socket s = connect(p, null)) {
            s.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertEquals(-1, readOrReset(s));
        }
        awaitClosed(Session.CloseReason.PROXY_HEADER_REJECTED, 1);
    }

    @Test
    void aTrustedSourceThatSendsNothingIsClosedAtTheDeadline() throws Exception {
        long start = System.nanoTime();
        try (Socket s = connect(p, null)) {
            assertEquals(-1, readOrReset(s));
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        org.junit.jupiter.api.Assertions.assertTrue(ms >= 400, "closed after " + ms + " ms, before the 500 ms deadline");
        awaitClosed(Session.CloseReason.PROXY_HEADER_TIMEOUT, 1);
    }
}
