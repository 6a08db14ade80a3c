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

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Session timers in the situations that hide them: firing while both directions are blocked on backpressure with
 * bytes outstanding (buffers held), and not firing while a session is alive in a way a naive clock would miss —
 * traffic in one direction only, a half-closed session whose open direction still flows, a PROXY header already
 * parsed. Timeouts are short; the assertions give them generous slack above and none below.
 */
class TimersWhileStuckTest {
    private ProxyHarness h;
    private final CountDownLatch hold = new CountDownLatch(1);

    @BeforeEach
    void setUp() {
        h = new ProxyHarness();
    }

    @AfterEach
    void tearDown() throws Exception {
        hold.countDown();
        h.close();
    }

    /** A backend that writes as fast as it can and never reads: it blocks once the buffers between are full. */
    private TcpServer floodingBackend(CountDownLatch released) throws Exception {
        return h.add(new TcpServer(s -> {
            OutputStream out = s.getOutputStream();
            byte[] chunk = new byte[64 << 10];
            try {
                while (released.getCount() > 0) {
                    out.write(chunk);
                }
            } catch (java.io.IOException e) {
                // the balancer closed the session: expected
            }
        }));
    }

    /** Writes from the client until the write blocks for good (the balancer and the backend hold what they can). */
    private static Thread floodFrom(Socket client) {
        Thread t = new Thread(() -> {
            byte[] chunk = new byte[64 << 10];
            try {
                OutputStream out = client.getOutputStream();
                while (true) {
                    out.write(chunk);
                }
            } catch (java.io.IOException e) {
                // closed: expected
            }
        }, "test-flooding-client");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void stuckBothWaysIsClosedBy(String key, String value, Session.CloseReason reason) throws Exception {
        CountDownLatch released = new CountDownLatch(1);
        TcpServer backend = floodingBackend(released);
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.workers", "1", key, value,
                "proxy.buffer.pool.max", "1m");
        Route route = p.listeners().get(0).route();
        long start = System.nanoTime();
        try (Socket c = connect(p, null)) {
            c.setReceiveBufferSize(16 << 10);
            floodFrom(c);
            // both directions fill up: each leg holds a pending buffer that cannot be written
            await("both directions blocked with buffers held", Duration.ofSeconds(5), () -> p.buffersInUse() >= 2);
            await("closed by " + reason, Duration.ofSeconds(10), () -> route.closedFor(reason) == 1);
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms >= 250, reason + " after " + ms + " ms, before its time");
            assertEquals(0, p.buffersInUse(), "the stuck buffers were returned");
        } finally {
            released.countDown();
        }
    }

    @Test
    void idleTimeoutFiresWhileBothDirectionsAreBlocked() throws Exception {
        stuckBothWaysIsClosedBy("proxy.idle.timeout", "300ms", Session.CloseReason.IDLE_TIMEOUT);
    }

    @Test
    void maxAgeFiresWhileBothDirectionsAreBlocked() throws Exception {
        stuckBothWaysIsClosedBy("proxy.session.max.age", "400ms", Session.CloseReason.MAX_AGE);
    }

    /** A backend that sends one byte every 50 ms, {@code count} times, then nothing (and reads nothing). */
    private TcpServer trickle(int count, CountDownLatch done) throws Exception {
        return h.add(new TcpServer(s -> {
            OutputStream out = s.getOutputStream();
            try {
                for (int i = 0; i < count; i++) {
                    out.write(i);
                    out.flush();
                    Thread.sleep(50);
                }
                done.countDown();
                // hold the connection open, reading nothing (a client's FIN must not end it): the balancer's timeout
                // or the end of the test closes it
                hold.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
    }

    @Test
    void trafficInOneDirectionAloneKeepsASessionOutOfTheIdleTimeout() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        TcpServer backend = trickle(24, done); // 1.2 s of bytes, never a gap of 300 ms
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.idle.timeout", "300ms");
        Route route = p.listeners().get(0).route();
        try (Socket c = connect(p, null)) {
            byte[] got = c.getInputStream().readNBytes(24); // the client never sends a byte
            byte[] expected = new byte[24];
            for (int i = 0; i < 24; i++) {
                expected[i] = (byte) i;
            }
            assertArrayEquals(expected, got, "every byte, with the session open all along");
            assertEquals(0, route.closedFor(Session.CloseReason.IDLE_TIMEOUT));
            assertTrue(done.await(5, TimeUnit.SECONDS));
            long quiet = System.nanoTime();
            assertEquals(-1, ProxyHarness.readOrReset(c), "then idle: closed");
            long ms = (System.nanoTime() - quiet) / 1_000_000;
            assertTrue(ms >= 200, "closed " + ms + " ms after the traffic stopped");
        }
        await("counted as idle", Duration.ofSeconds(5), () -> route.closedFor(Session.CloseReason.IDLE_TIMEOUT) == 1);
    }

    @Test
    void aHalfClosedSessionWhoseOpenDirectionFlowsSurvivesTheHalfClosedTimeout() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        TcpServer backend = trickle(24, done);
        Proxy p = h.start("proxy.backends", backend.address(), "proxy.halfclosed.timeout", "300ms");
        Route route = p.listeners().get(0).route();
        try (Socket c = connect(p, null)) {
            c.shutdownOutput(); // the client is done sending; the response keeps streaming for 1.2 s
            InputStream in = c.getInputStream();
            assertEquals(24, in.readNBytes(24).length, "the open direction delivered whole");
            assertEquals(0, route.closedFor(Session.CloseReason.HALF_CLOSED_TIMEOUT));
            assertTrue(done.await(5, TimeUnit.SECONDS));
            assertEquals(-1, ProxyHarness.readOrReset(c), "then nothing moves: closed");
        }
        await("counted as half-closed timeout", Duration.ofSeconds(5),
                () -> route.closedFor(Session.CloseReason.HALF_CLOSED_TIMEOUT) == 1);
    }

    @Test
    void theHeaderDeadlineIsCancelledOnceTheHeaderIsParsed() throws Exception {
        TcpServer echo = h.add(TcpServer.echo());
        Proxy p = h.start("proxy.backends", echo.address(), "proxy.proxyprotocol.trusted", "127.0.0.0/8",
                "proxy.proxyprotocol.timeout", "300ms");
        Route route = p.listeners().get(0).route();
        try (Socket c = connect(p, null)) {
            OutputStream out = c.getOutputStream();
            out.write(ProxyProtocolEncoder.v1(new InetSocketAddress("203.0.113.7", 4000),
                    new InetSocketAddress("198.51.100.1", 443)));
            out.write("one".getBytes());
            assertArrayEquals("one".getBytes(), c.getInputStream().readNBytes(3));
            Thread.sleep(1000); // three header deadlines later
            out.write("two".getBytes());
            assertArrayEquals("two".getBytes(), c.getInputStream().readNBytes(3), "still relaying");
        }
        assertEquals(0, route.closedFor(Session.CloseReason.PROXY_HEADER_TIMEOUT));
    }
}
