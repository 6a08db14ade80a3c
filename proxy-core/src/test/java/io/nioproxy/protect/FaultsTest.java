package io.nioproxy.protect;

import io.nioproxy.Main;
import io.nioproxy.Proxy;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.FaultProxy;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readLine;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Faults that must not hurt: a faulty network between balancer and backend, EOF without a spin, no descriptors. */
class FaultsTest {

    /**
     * A fault proxy between the balancer and an echo backend, on the way back. Whatever the fault, every byte the
     * balancer received from the backend side reaches the client, or the session ends with a reset: the client
     * never sees a clean end of stream short of what was forwarded to the balancer.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(FaultProxy.Fault.class)
    void everyForwardedByteArrivesOrTheSessionIsReset(FaultProxy.Fault fault) throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            TcpServer echo = h.add(TcpServer.echo());
            int size = 200_000;
            FaultProxy faulty = h.add(new FaultProxy(new InetSocketAddress("127.0.0.1", echo.port()), fault, 77_777));
            Proxy p = h.start("proxy.backends", faulty.address(), "proxy.health.passive", "false");
            byte[] data = new byte[size];
            new Random(fault.ordinal()).nextBytes(data);
            try (Socket s = connect(p, null)) {
                CompletableFuture<Void> w = CompletableFuture.runAsync(() -> {
                    try {
                        s.getOutputStream().write(data);
                        s.shutdownOutput();
                    } catch (Exception e) {
                        // the fault may cut the upload short: what matters is what comes back
                    }
                }, command -> new Thread(command).start());
                ByteArrayOutputStream got = new ByteArrayOutputStream();
                boolean reset = false;
                InputStream in = s.getInputStream();
                byte[] buf = new byte[8192];
                try {
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        got.write(buf, 0, n);
                    }
                } catch (java.net.SocketException e) {
                    reset = true;
                }
                w.get(30, TimeUnit.SECONDS);
                byte[] back = got.toByteArray();
                assertArrayEquals(Arrays.copyOf(data, back.length), back, "bytes arrive in order, unchanged");
                switch (fault) {
                    case NONE, LATENCY, SLICE, STALL -> {
                        assertEquals(size, back.length, "the whole stream");
                        assertTrue(!reset);
                    }
                    case CLOSE_AFTER -> {
                        assertEquals(faulty.forwardedBack(), back.length, "every byte the balancer got, then FIN");
                        assertEquals(77_777, back.length);
                        assertTrue(!reset, "a clean close is carried as a clean close");
                    }
                    case RESET_AFTER -> {
                        assertTrue(back.length <= faulty.forwardedBack());
                        assertTrue(reset || back.length == faulty.forwardedBack(),
                                "short of what was forwarded only with a reset: got " + back.length + " of "
                                        + faulty.forwardedBack());
                    }
                }
            }
        }
    }

    /**
     * A reset arriving on a socket the loop is not watching (its input ended, nothing to write): epoll reports an
     * error or hang-up whatever the interest, and level-triggered epoll would report it on every turn. The loop must
     * stay idle. The backend's direction had completed (its FIN reached the client), so the client's write toward the
     * dead backend fails that direction alone: its bytes are dropped, no reset is sent, and the session ends as the
     * backend's clean close once the client closes too.
     */
    @Test
    void aResetOnASocketWithNoInterestDoesNotSpinTheLoop() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            TcpServer finThenReset = h.add(new TcpServer(s -> {
                s.shutdownOutput(); // FIN first: the balancer's backend leg has its input ended, nothing to write
                try {
                    Thread.sleep(300);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                s.setSoLinger(true, 0);
                s.close(); // then a reset, on a socket the balancer no longer reads
            }));
            Proxy p = h.start("proxy.backends", finThenReset.address(), "proxy.workers", "1",
                    "proxy.halfclosed.timeout", "0");
            EventLoop loop = p.loops()[0];
            try (Socket s = connect(p, null)) {
                s.setSoTimeout(3000);
                assertEquals(-1, s.getInputStream().read(), "the backend's FIN reaches the client");
                Thread.sleep(500); // the reset has arrived
                long before = loop.busyNanos();
                Thread.sleep(1000);
                long busyMs = (loop.busyNanos() - before) / 1_000_000;
                assertTrue(busyMs < 50, "the loop worked " + busyMs + " ms in a second after a reset on an unwatched socket");
                assertEquals(1, p.sessions(), "nothing has touched the session yet");
                for (int i = 0; i < 3; i++) {
                    s.getOutputStream().write(new byte[] {1, 2, 3}); // toward the dead backend: a write fails
                    Thread.sleep(50);
                }
                assertEquals(-1, s.getInputStream().read(), "still a clean end of stream, not a reset");
                before = loop.busyNanos();
                Thread.sleep(500);
                busyMs = (loop.busyNanos() - before) / 1_000_000;
                assertTrue(busyMs < 50, "the loop worked " + busyMs + " ms in 500 ms after the failed write");
            }
            ProxyHarness.await("the session ends once the client closes", java.time.Duration.ofSeconds(3),
                    () -> p.sessions() == 0);
            var route = p.listeners().get(0).route();
            assertEquals(1, route.closedFor(io.nioproxy.relay.Session.CloseReason.BACKEND_CLOSED));
            assertEquals(0, route.closedFor(io.nioproxy.relay.Session.CloseReason.BACKEND_RESET));
        }
    }

    @Test
    void endOfStreamOnAHalfClosedSessionDoesNotSpinTheLoop() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            // the backend never answers and never closes: the session stays half-closed
            TcpServer silent = h.add(new TcpServer(s -> {
                s.getInputStream().readAllBytes();
                try {
                    Thread.sleep(5_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
            Proxy p = h.start("proxy.backends", silent.address(), "proxy.workers", "1", "proxy.halfclosed.timeout", "0");
            EventLoop loop = p.loops()[0];
            try (Socket s = connect(p, null)) {
                s.shutdownOutput(); // read() == -1 on the balancer's client socket from now on
                Thread.sleep(200);
                long before = loop.busyNanos();
                Thread.sleep(1000);
                long busyMs = (loop.busyNanos() - before) / 1_000_000;
                assertTrue(busyMs < 50, "the loop worked " + busyMs + " ms in a second with one half-closed session");
                assertEquals(1, p.sessions());
            }
        }
    }

    /**
     * Out of descriptors (the balancer in a child JVM under ulimit -n 256): accepting pauses instead of spinning,
     * the sessions already open keep working, new clients are served again once descriptors free up, and the balancer
 * holds no socket more than its listener once every client has gone.
     */
    @Test
    void outOfDescriptorsPausesAcceptingWithoutSpinningAndRecovers() throws Exception {
        int port = ProxyHarness.freePort();
        try (TcpServer backend = TcpServer.named("b")) {
            String java = ChildBalancer.javaBinary();
            String cmd = "ulimit -n 256 && exec '" + java + "' -Xmx128m -XX:-MaxFDLimit -Dproxy.workers=1"
                    + " -Dproxy.backends=" + backend.address() + " -Dproxy.listen=127.0.0.1:" + port
                    + " -Dproxy.backlog=512 -cp '" + System.getProperty("java.class.path") + "' " + Main.class.getName();
            Process p = new ProcessBuilder("bash", "-c", cmd).redirectErrorStream(true).start();
            List<Socket> clients = new ArrayList<>();
            try {
                List<String> lines = new ArrayList<>();
                ChildBalancer.awaitAccepting(p, lines);
                long idle = ChildBalancer.sockets(p); // the listener
                assertEquals(1, idle, "one listening socket before any client");
                List<Socket> early = new ArrayList<>();
                for (int i = 0; i < 10; i++) {
                    Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
                    s.setSoTimeout(10_000);
                    assertEquals("b", readLine(s.getInputStream()));
                    early.add(s);
                }
                ChildBalancer.awaitSockets(p, idle + 2 * early.size(), "ten sessions, two legs each");
                // flood: far more clients than 256 descriptors allow; the kernel queues them in the backlog
                for (int i = 0; i < 300; i++) {
                    Socket s = new Socket();
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
                    clients.add(s);
                }
                Thread.sleep(500);
                long pid = p.pid();
                long cpu0 = cpuTicks(pid);
                Thread.sleep(2000);
                long cpuMs = (cpuTicks(pid) - cpu0) * 10; // 100 ticks a second on Linux
                // a loop spinning on the readable listener would take the whole core (2,000 ms); half of it is slack
                // for a busy machine, never enough to hide a spin
                assertTrue(cpuMs < 1000, "balancer CPU while saturated: " + cpuMs + " ms in 2 s (no busy loop)");
                for (Socket s : early) {
                    s.getOutputStream().write("ping\n".getBytes());
                    assertEquals("ping", readLine(s.getInputStream()), "sessions already open keep echoing");
                }
                synchronized (lines) {
                    assertTrue(lines.stream().anyMatch(l -> l.contains("pausing accepts")
                            || l.contains("Too many open files")), "the fault was met and logged: " + lines);
                }
                for (Socket s : clients) {
                    s.close();
                }
                clients.clear();
                Thread.sleep(500);
                try (Socket again = new Socket(InetAddress.getLoopbackAddress(), port)) {
                    again.setSoTimeout(10_000);
                    assertEquals("b", readLine(again.getInputStream()), "served again once descriptors freed up");
                }
                for (Socket s : early) {
                    s.close();
                }
                // every socket opened while descriptors ran out (accepted clients, failed backend connects) is closed
                ChildBalancer.awaitSockets(p, idle, "after every client left");
            } finally {
                for (Socket s : clients) {
                    s.close();
                }
                p.toHandle().destroy();
                assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            }
        }
    }

    static long cpuTicks(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }
}
