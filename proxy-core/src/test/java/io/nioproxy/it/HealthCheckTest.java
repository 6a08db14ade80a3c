package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Health checks on real backends that die and come back (HAProxy's 4be_1srv_health_checks scenario). */
class HealthCheckTest {
    private ProxyHarness h;

    @BeforeEach
    void setUp() {
        h = new ProxyHarness();
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
    }

    static Backend backend(Proxy p, String address) {
        for (Backend b : p.listeners().get(0).backends()) {
            if (b.identity().equals(address)) {
                return b;
            }
        }
        throw new AssertionError("no backend " + address);
    }

    static String echoOnce(Socket s, String text) throws Exception {
        OutputStream out = s.getOutputStream();
        out.write((text + "\n").getBytes());
        return readLine(s.getInputStream());
    }

    @Test
    void killedBackendGoesDownWithinFallTimesIntervalAndComesBackAfterRise() throws Exception {
        TcpServer a = TcpServer.named("a");
        TcpServer b = h.add(TcpServer.named("b"));
        int aPort = a.port();
        Proxy p = h.start("proxy.backends", a.address() + "," + b.address(), "proxy.balance", "round-robin",
                "proxy.health.interval", "100ms", "proxy.health.timeout", "200ms", "proxy.health.rise", "2",
                "proxy.health.fall", "2", "proxy.health.holddown", "0", "proxy.health.passive", "false");
        Backend ba = backend(p, a.address());
        // a session on the healthy backend, open across the whole test
        Socket onB = null;
        for (int i = 0; i < 2 && onB == null; i++) {
            Socket s = connect(p, null);
            if ("b".equals(readLine(s.getInputStream()))) {
                onB = s;
            } else {
                s.close();
            }
        }
        assertTrue(onB != null);
        long killed = System.nanoTime();
        a.close();
        await("backend a marked down", Duration.ofSeconds(5), () -> ba.state() == Backend.State.DOWN);
        long ms = (System.nanoTime() - killed) / 1_000_000;
        // fall x interval = 200 ms, plus one interval of phase and the check's own time; a busy machine delays the
        // checks, never hastens them (HealthCountsTest checks that the count, not the clock, decides)
        assertTrue(ms <= 3000, "down after " + ms + " ms");
        for (int i = 0; i < 10; i++) {
            try (Socket s = connect(p, null)) {
                assertEquals("b", readLine(s.getInputStream()), "new connections avoid the down backend");
            }
        }
        assertEquals("still here", echoOnce(onB, "still here"), "a session on another backend is untouched");

        try (TcpServer again = h.add(TcpServer.named("a-again", new InetSocketAddress(InetAddress.getLoopbackAddress(), aPort)))) {
            await("backend a back up and in the table", Duration.ofSeconds(5), () -> ba.state() == Backend.State.UP
                    && p.listeners().get(0).route().balancer().backends().backends().contains(ba));
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < 10; i++) {
                try (Socket s = connect(p, null)) {
                    seen.add(readLine(s.getInputStream()));
                }
            }
            assertTrue(seen.contains("a-again"), "the recovered backend takes new clients: " + seen);
        }
        onB.close();
    }

    @Test
    void downBackendMovesOnlyItsClientsAndTheyReturnWhenItIsBack() throws Exception {
        TcpServer[] servers = new TcpServer[3];
        StringBuilder list = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            servers[i] = i == 1 ? TcpServer.named("s1") : h.add(TcpServer.named("s" + i));
            list.append(i == 0 ? "" : ",").append(servers[i].address());
        }
        int port1 = servers[1].port();
        // affinity off: the pure table behaviour (with it on, moved clients stay where they moved while remembered)
        Proxy p = h.start("proxy.backends", list.toString(), "proxy.affinity.ttl", "0", "proxy.health.interval", "50ms",
                "proxy.health.fall", "1", "proxy.health.rise", "1", "proxy.health.holddown", "0",
                "proxy.health.passive", "false");
        java.util.Map<String, String> before = new java.util.HashMap<>();
        for (int i = 2; i <= 91; i++) {
            before.put("127.0.0." + i, name(p, "127.0.0." + i));
        }
        servers[1].close();
        Backend b1 = backend(p, servers[1].address());
        await("s1 down", Duration.ofSeconds(3), () -> b1.state() == Backend.State.DOWN);
        int othersMoved = 0;
        for (var e : before.entrySet()) {
            String now = name(p, e.getKey());
            if (e.getValue().equals("s1")) {
                assertTrue(!now.equals("s1"), "a client of the down backend moves");
            } else if (!e.getValue().equals(now)) {
                othersMoved++;
            }
        }
        // Maglev moves (almost) only the failed backend's keys; a couple of others may change hands (<= 2%)
        assertTrue(othersMoved <= 3, "clients of other backends that moved: " + othersMoved + " of 90");
        try (TcpServer back = h.add(TcpServer.named("s1", new InetSocketAddress(InetAddress.getLoopbackAddress(), port1)))) {
            // the state flips first, the new table is published a moment later: wait for both
            await("s1 up and back in the table", Duration.ofSeconds(3), () -> b1.state() == Backend.State.UP
                    && p.listeners().get(0).route().balancer().backends().backends().contains(b1));
            for (var e : before.entrySet()) {
                assertEquals(e.getValue(), name(p, e.getKey()), "every client is back where it was");
            }
        }
    }

    static String name(Proxy p, String source) throws Exception {
        try (Socket s = connect(p, source)) {
            return readLine(s.getInputStream());
        }
    }

    @Test
    void passiveChecksTakeARefusingBackendOutAndRetryItAfterTheHolddown() throws Exception {
        int dead;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            dead = s.getLocalPort();
        }
        TcpServer alive = h.add(TcpServer.named("alive"));
        Proxy p = h.start("proxy.backends", "127.0.0.1:" + dead + "," + alive.address(), "proxy.balance", "round-robin",
                "proxy.health.fall", "3", "proxy.health.holddown", "1s");
        Backend deadBackend = backend(p, "127.0.0.1:" + dead);
        for (int i = 0; i < 6; i++) {
            try (Socket s = connect(p, null)) {
                assertEquals("alive", readLine(s.getInputStream()), "clients fail over while it is still in rotation");
            }
        }
        await("passively marked down", Duration.ofSeconds(2), () -> deadBackend.state() == Backend.State.DOWN);
        long failures = deadBackend.connectFailures();
        for (int i = 0; i < 20; i++) {
            try (Socket s = connect(p, null)) {
                assertEquals("alive", readLine(s.getInputStream()));
            }
        }
        assertEquals(failures, deadBackend.connectFailures(), "no client is sent to it while it is down");
        await("retried after the hold-down", Duration.ofSeconds(3), () -> deadBackend.state() == Backend.State.UP);
    }

    @Test
    void aFlappingBackendIsHeldDown() throws Exception {
        TcpServer a = TcpServer.named("a");
        int aPort = a.port();
        TcpServer b = h.add(TcpServer.named("b"));
        Proxy p = h.start("proxy.backends", a.address() + "," + b.address(), "proxy.health.interval", "50ms",
                "proxy.health.fall", "1", "proxy.health.rise", "1", "proxy.health.holddown", "1500ms",
                "proxy.health.passive", "false");
        Backend ba = backend(p, a.address());
        a.close();
        await("down", Duration.ofSeconds(3), () -> ba.state() == Backend.State.DOWN);
        long down = System.nanoTime();
        try (TcpServer again = h.add(TcpServer.named("a", new InetSocketAddress(InetAddress.getLoopbackAddress(), aPort)))) {
            Thread.sleep(700);
            assertEquals(Backend.State.DOWN, ba.state(), "checks pass again, but the hold-down keeps it out");
            await("up after the hold-down", Duration.ofSeconds(3), () -> ba.state() == Backend.State.UP);
            long ms = (System.nanoTime() - down) / 1_000_000;
            assertTrue(ms >= 1400, "rejoined after " + ms + " ms");
        }
    }

    @Test
    void sendExpectCheckFailsOnAWrongReply() throws Exception {
        TcpServer good = h.add(new TcpServer(s -> {
            s.getInputStream().readNBytes(6);
            s.getOutputStream().write("+PONG\r\n".getBytes());
        }));
        TcpServer wrong = h.add(new TcpServer(s -> {
            s.getInputStream().readNBytes(6);
            s.getOutputStream().write("-ERR\r\n".getBytes());
        }));
        Proxy p = h.start("proxy.backends", good.address() + "," + wrong.address(),
                "proxy.health.interval", "50ms", "proxy.health.fall", "2", "proxy.health.send", "PING\\r\\n",
                "proxy.health.expect", "+PONG", "proxy.health.passive", "false");
        await("the backend answering -ERR is down", Duration.ofSeconds(3),
                () -> backend(p, wrong.address()).state() == Backend.State.DOWN);
        Thread.sleep(300);
        assertEquals(Backend.State.UP, backend(p, good.address()).state());
    }

    @Test
    void closeOnDownPolicyClosesTheSessionsOfADeadBackendAfterTheGrace() throws Exception {
        TcpServer a = TcpServer.named("a");
        Proxy p = h.start("proxy.backends", a.address(), "proxy.health.interval", "50ms", "proxy.health.fall", "1",
                "proxy.health.on.down", "close", "proxy.health.close.grace", "300ms", "proxy.health.passive", "false");
        // The session's backend socket stays open (the server thread blocks reading) while the listener goes away:
        // only the policy can end this session.
        Socket s = connect(p, null);
        assertEquals("a", readLine(s.getInputStream()));
        a.closeListenerOnly();
        long start = System.nanoTime();
        InputStream in = s.getInputStream();
        int r;
        try {
            r = in.read();
        } catch (java.net.SocketException reset) {
            r = -1;
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertEquals(-1, r, "the balancer closed the session");
        assertTrue(ms >= 250, "closed after the grace, at " + ms + " ms");
        s.close();
        a.close();
    }
}
