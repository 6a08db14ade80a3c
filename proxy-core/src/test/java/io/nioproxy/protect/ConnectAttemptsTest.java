package io.nioproxy.protect;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.relay.Route;
import io.nioproxy.relay.Session;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.freePort;
import static io.nioproxy.testing.ProxyHarness.readLine;
import static io.nioproxy.testing.ProxyHarness.readOrReset;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code proxy.connect.attempts} on real sockets (nginx's {@code stream_proxy_next_upstream.t}): exactly that many
 * backends are tried, never more, never the same twice; and a backend's {@code proxy.backend.maxconn} slot is given
 * back when its session ends, whichever way, under every balance mode (nginx's {@code stream_upstream_max_conns.t}).
 */
class ConnectAttemptsTest {
    private ProxyHarness h;

    @BeforeEach
    void setUp() {
        h = new ProxyHarness();
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
    }

    /** Addresses on which nothing listens: a connect is refused at once. */
    private static String deadBackends(int n) throws Exception {
        List<String> a = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            a.add("127.0.0.1:" + freePort());
        }
        return String.join(",", a);
    }

    private void triesExactly(int attempts, int backends) throws Exception {
        Proxy p = h.start("proxy.backends", deadBackends(backends), "proxy.connect.attempts", String.valueOf(attempts),
                "proxy.health.passive", "false", "proxy.balance", "round-robin");
        Route r = p.listeners().get(0).route();
        int clients = 6;
        for (int i = 0; i < clients; i++) {
            try (Socket s = connect(p, null)) {
                assertEquals(-1, readOrReset(s), "every attempt refused: the client is closed");
            }
        }
        await("every client ended", Duration.ofSeconds(5),
                () -> r.closedFor(Session.CloseReason.CONNECT_FAILED) == clients);
        assertEquals((long) clients * Math.min(attempts, backends), r.connectFailures(),
                attempts + " attempts over " + backends + " backends, per client");
        for (Backend b : p.listeners().get(0).backends()) {
            assertEquals(0, b.active(), "no slot left held by a failed attempt: " + b.identity());
        }
    }

    @Test
    void fewerAttemptsThanBackendsTriesExactlyThatMany() throws Exception {
        triesExactly(2, 4);
    }

    @Test
    void oneAttemptTriesOneBackend() throws Exception {
        triesExactly(1, 3);
    }

    @Test
    void moreAttemptsThanBackendsTriesEachOnce() throws Exception {
        triesExactly(5, 3);
    }

    @Test
    void aLiveBackendWithinTheAttemptsIsReached() throws Exception {
        TcpServer live = h.add(TcpServer.named("live"));
        Proxy p = h.start("proxy.backends", deadBackends(3) + "," + live.address(), "proxy.connect.attempts", "4",
                "proxy.health.passive", "false");
        for (int i = 0; i < 8; i++) {
            try (Socket s = connect(p, "127.0.0." + (10 + i))) {
                assertEquals("live", readLine(s.getInputStream()), "client " + i);
            }
        }
    }

    @Test
    void aBackendSlotIsGivenBackWhenItsSessionEndsUnderEveryBalanceMode() throws Exception {
        TcpServer b = h.add(TcpServer.named("b"));
        for (String balance : new String[] {"source-ip", "source-ip-port", "round-robin", "least-conn"}) {
            Proxy p = h.start("proxy.backends", b.address(), "proxy.backend.maxconn", "1", "proxy.balance", balance);
            Backend backend = p.listeners().get(0).backends().get(0);
            for (int round = 0; round < 3; round++) {
                try (Socket s = connect(p, null)) {
                    assertEquals("b", readLine(s.getInputStream()), balance + ": the slot is free again, round " + round);
                    try (Socket refused = connect(p, null)) {
                        assertEquals(-1, readOrReset(refused), balance + ": the one slot is taken");
                    }
                }
                await(balance + ": slot given back", Duration.ofSeconds(5), () -> backend.active() == 0);
            }
            // ended by a reset too
            Socket s = connect(p, null);
            assertEquals("b", readLine(s.getInputStream()));
            s.setSoLinger(true, 0);
            s.close();
            await(balance + ": slot given back after a reset", Duration.ofSeconds(5), () -> backend.active() == 0);
            try (Socket again = connect(p, null)) {
                assertEquals("b", readLine(again.getInputStream()), balance + ": served after the reset");
            }
            p.close();
        }
    }
}
