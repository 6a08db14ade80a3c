package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.nioproxy.testing.ProxyHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Scale-out with long-lived sessions: 60 clients from distinct addresses on two backends, a third backend joins, and
 * the balancer asks just enough clients to reconnect, paced, for the spread to fall under the tolerance. Each client
 * behaves like a socket.io client: when its connections are closed it reconnects them (after a short back-off), and
 * every one of them must land on one backend.
 */
class RebalanceTest {
    private static final int CLIENTS = 60;

    /** One client address with its sessions; reconnects whatever the balancer closes. */
    private static final class Client implements AutoCloseable {
        final String address;
        final int sessions;
        final InetSocketAddress balancer;
        /** Per connection made: the backend that answered, when it opened and when it was closed (0: open). */
        final List<long[]> closes = new CopyOnWriteArrayList<>();
        final List<String> backends = new CopyOnWriteArrayList<>();
        private final List<Socket> open = new CopyOnWriteArrayList<>();
        private final List<Thread> threads = new ArrayList<>();
        private volatile boolean stopped;

        Client(String address, int sessions, InetSocketAddress balancer) {
            this.address = address;
            this.sessions = sessions;
            this.balancer = balancer;
        }

        void start() {
            for (int i = 0; i < sessions; i++) {
                Thread t = new Thread(this::run, "client-" + address + "-" + i);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }

        private void run() {
            while (!stopped) {
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress(address, 0));
                    s.connect(balancer, 5000);
                    open.add(s);
                    InputStream in = s.getInputStream();
                    String name = ProxyHarness.readLine(in);
                    if (name == null) {
                        continue;
                    }
                    backends.add(name);
                    while (in.read() >= 0) {
                        // nothing more comes until the close
                    }
                    if (!stopped) {
                        closes.add(new long[] {System.nanoTime()});
                    }
                } catch (IOException e) {
                    if (!stopped) {
                        closes.add(new long[] {System.nanoTime()});
                    }
                } finally {
                    open.removeIf(Socket::isClosed);
                }
                sleep(50); // a reconnect back-off, as socket.io's
            }
        }

        /** The backend each connection of this client reached, in order. */
        List<String> reached() {
            return List.copyOf(backends);
        }

        @Override
        public void close() throws Exception {
            stopped = true;
            for (Socket s : open) {
                s.close();
            }
            for (Thread t : threads) {
                t.join(5000);
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static double spread(Proxy p) {
        List<Backend> bs = p.listeners().get(0).backends();
        double sum = 0;
        double max = 0;
        for (Backend b : bs) {
            sum += b.active();
            max = Math.max(max, b.active());
        }
        return max / (sum / bs.size());
    }

    private static List<Client> connect(Proxy p, int sessionsOfEveryFifth) {
        List<Client> clients = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            Client c = new Client("127.0.1." + (i + 1), i % 5 == 0 ? sessionsOfEveryFifth : 1,
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), ProxyHarness.port(p)));
            c.start();
            clients.add(c);
        }
        int total = clients.stream().mapToInt(c -> c.sessions).sum();
        await("every client connected", Duration.ofSeconds(20), () -> p.sessions() == total
                && clients.stream().allMatch(c -> c.backends.size() == c.sessions));
        return clients;
    }

    /** The clients named in a /rebalance answer's moves. */
    private static Set<String> movesOf(String json) {
        Set<String> out = new HashSet<>();
        Matcher m = Pattern.compile("\"client\":\"([^\"]+)\"").matcher(json);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    @Test
    void sourceIpMovesExactlyThePlannedClientsWholeToTheNewBackendAtThePace() throws Exception {
        try (ProxyHarness h = new ProxyHarness();
             TcpServer b1 = h.add(TcpServer.named("b1"));
             TcpServer b2 = h.add(TcpServer.named("b2"));
             TcpServer b3 = h.add(TcpServer.named("b3"))) {
            Proxy p = h.start("proxy.backends", b1.address() + "," + b2.address(), "proxy.balance", "source-ip",
                    "proxy.admin", "127.0.0.1:0", "proxy.rebalance.tolerance", "1.2", "proxy.rebalance.rate", "10",
                    "proxy.rebalance.max.share", "1");
            List<Client> clients = connect(p, 2);
            try {
                p.listeners().get(0).registry().add(new InetSocketAddress("127.0.0.1", b3.port()), 1, "test");
                double spreadBefore = spread(p);
                String dry = Http.request(p.adminAddress(), "POST", "/rebalance?dry_run=true").body();
                Set<String> planned = movesOf(dry);
                assertTrue(!planned.isEmpty(), dry);
                sleep(300); // nothing moves on a dry run (and rebalance is off: nothing moves by itself)
                assertTrue(clients.stream().allMatch(c -> c.closes.isEmpty()), "a dry run moved someone");
                String run = Http.request(p.adminAddress(), "POST", "/rebalance").body();
                assertEquals(planned, movesOf(run), "the run plans what the dry run said");
                String state = Http.request(p.adminAddress(), "GET", "/rebalance").body();
                assertTrue(state.startsWith("{\"running\":\"admin\",\"pending\":") && !state.contains("\"pending\":0,"),
                        "in progress: " + state);
                await("the rebalance finished", Duration.ofSeconds(60), () ->
                        p.rebalancer("default").pending() == 0 && p.rebalancer("default").running() == null);
                await("moved clients reconnected", Duration.ofSeconds(20), () -> clients.stream()
                        .allMatch(c -> c.backends.size() == c.sessions + c.closes.size()));
                Map<String, Client> byAddress = new HashMap<>();
                clients.forEach(c -> byAddress.put(c.address, c));
                Set<String> moved = new HashSet<>();
                TreeMap<Long, String> closeTimes = new TreeMap<>();
                for (Client c : clients) {
                    if (c.closes.isEmpty()) {
                        continue;
                    }
                    moved.add(c.address);
                    List<String> reached = c.reached();
                    String first = reached.get(0);
                    assertEquals(c.sessions, c.closes.size(), c.address + ": every session closed once, together");
                    assertTrue(reached.subList(0, c.sessions).stream().allMatch(first::equals), c.address + " " + reached);
                    assertTrue(reached.subList(c.sessions, reached.size()).stream().allMatch("b3"::equals),
                            c.address + ": every reconnect on the new backend, none back on the old one: " + reached);
                    long span = c.closes.stream().mapToLong(t -> t[0]).max().getAsLong()
                            - c.closes.stream().mapToLong(t -> t[0]).min().getAsLong();
                    assertTrue(span < 500_000_000L, c.address + ": its sessions closed together, not " + span / 1e6 + " ms apart");
                    closeTimes.put(c.closes.get(0)[0], c.address);
                }
                assertEquals(planned, moved, "exactly the planned clients were closed; nobody else");
                // done: under the tolerance, or no client left whose owner could lower the peak (with source-ip only
                // re-owned clients move, so the floor is the hash's own spread over these 60 addresses)
                String after = Http.request(p.adminAddress(), "POST", "/rebalance?dry_run=true").body();
                assertTrue(spread(p) <= 1.2 + 1e-9 || movesOf(after).isEmpty(), "spread " + spread(p)
                        + " and still something to move: " + after);
                assertTrue(spread(p) < spreadBefore, "the spread fell: " + spreadBefore + " -> " + spread(p));
                // the pace: 10 clients a second at most (gaps of 100 to 150 ms), seen by the clients (one of slack for
                // the moment each client thread notices its close)
                List<Long> times = new ArrayList<>(closeTimes.keySet());
                for (int i = 0; i < times.size(); i++) {
                    int inOneSecond = 0;
                    for (int j = i; j < times.size() && times.get(j) - times.get(i) < 1_000_000_000L; j++) {
                        inOneSecond++;
                    }
                    assertTrue(inOneSecond <= 11, inOneSecond + " clients closed within one second at rate 10/s");
                }
                long total = times.get(times.size() - 1) - times.get(0);
                assertTrue(total >= (times.size() - 2) * 100_000_000L,
                        times.size() + " moves over " + total / 1e6 + " ms: not paced");
                String metrics = Http.request(p.adminAddress(), "GET", "/metrics").body();
                assertTrue(metrics.contains("nioproxy_rebalance_moved_total{listener=\"default\",reason=\"admin\"} "
                        + planned.size()), metrics);
                assertTrue(metrics.contains("reason=\"rebalanced\"}"), "closes counted by reason");
            } finally {
                for (Client c : clients) {
                    c.close();
                }
            }
        }
    }

    /** Opens {@code n} sessions from 127.0.4.x; returns how many reached each backend name. */
    private static Map<String, Integer> open(Proxy p, int n, int from, List<Socket> keep) throws IOException {
        Map<String, Integer> reached = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            Socket s = ProxyHarness.connect(p, "127.0.4." + (from + i));
            keep.add(s);
            reached.merge(ProxyHarness.readLine(s.getInputStream()), 1, Integer::sum);
        }
        return reached;
    }

    @Test
    void slowStartFillsAJoiningBackendGraduallyUnderLeastConn() throws Exception {
        List<Socket> keep = new ArrayList<>();
        try (ProxyHarness h = new ProxyHarness();
             TcpServer b1 = h.add(TcpServer.named("b1"));
             TcpServer b2 = h.add(TcpServer.named("b2"));
             TcpServer b3 = h.add(TcpServer.named("b3"))) {
            Proxy p = h.start("proxy.backends", b1.address() + "," + b2.address(), "proxy.balance", "least-conn",
                    "proxy.backend.slowstart", "3s");
            assertEquals(Map.of("b1", 10, "b2", 10), open(p, 20, 1, keep), "configured backends: no slow start");
            p.listeners().get(0).registry().add(new InetSocketAddress("127.0.0.1", b3.port()), 1, "test");
            long t0 = System.nanoTime();
            Map<String, Integer> early = open(p, 20, 21, keep);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            // without slow start least-conn would send all 20 to the empty b3; at the start of its 3 s ramp it takes
            // a few (its weight counts 5% at first, then grows)
            int toB3 = early.getOrDefault("b3", 0);
            assertTrue(ms > 2500 || toB3 <= 8, "b3 took " + toB3 + " of 20 in its first " + ms + " ms: " + early);
            Thread.sleep(Math.max(0, 3200 - (System.nanoTime() - t0) / 1_000_000));
            Map<String, Integer> later = open(p, 20, 41, keep);
            assertTrue(later.getOrDefault("b3", 0) >= 10, "after the ramp b3 takes its full share and more: " + later);
            System.out.printf("slow start (3 s): b3 took %d of 20 new clients in its first %d ms, %s after%n", toB3, ms,
                    later);
            for (Socket s : keep) {
                s.close(); // before the harness checks that the balancer is idle
            }
        } finally {
            for (Socket s : keep) {
                s.close();
            }
        }
    }

    @Test
    void onByItselfAfterABackendJoinsWithLeastConn() throws Exception {
        try (ProxyHarness h = new ProxyHarness();
             TcpServer b1 = h.add(TcpServer.named("b1"));
             TcpServer b2 = h.add(TcpServer.named("b2"));
             TcpServer b3 = h.add(TcpServer.named("b3"))) {
            Proxy p = h.start("proxy.backends", b1.address() + "," + b2.address(), "proxy.balance", "least-conn",
                    "proxy.rebalance", "on", "proxy.rebalance.tolerance", "1.25", "proxy.rebalance.rate", "50",
                    "proxy.rebalance.settle", "300ms", "proxy.rebalance.max.share", "0.5");
            List<Client> clients = connect(p, 1);
            try {
                assertTrue(spread(p) <= 1.1, "least-conn spreads the first clients: " + spread(p));
                long t0 = System.nanoTime();
                p.listeners().get(0).registry().add(new InetSocketAddress("127.0.0.1", b3.port()), 1, "test");
                await("the spread fell under the tolerance", Duration.ofSeconds(30), () -> spread(p) <= 1.25
                        && p.rebalancer("default").running() == null);
                long firstClose = clients.stream().flatMap(c -> c.closes.stream()).mapToLong(t -> t[0]).min()
                        .orElseThrow();
                assertTrue(firstClose - t0 >= 250_000_000L, "not before the set settled (300 ms): "
                        + (firstClose - t0) / 1e6 + " ms");
                int moved = 0;
                int toB3 = 0;
                for (Client c : clients) {
                    if (!c.closes.isEmpty()) {
                        moved++;
                        List<String> reached = c.reached();
                        toB3 += "b3".equals(reached.get(reached.size() - 1)) ? 1 : 0;
                    }
                }
                // least-conn sends each reconnect to the emptiest backend at that moment: b3, until it ties
                assertTrue(toB3 >= moved / 2, toB3 + " of " + moved + " reconnects went to the new backend");
                // 60 sessions over 3 backends: at most 25 on the busiest; 30 each before: at least 5 + 5 move
                assertTrue(moved >= 10 && moved <= 20, "moved " + moved + " of 60 (no more than needed)");
            } finally {
                for (Client c : clients) {
                    c.close();
                }
            }
        }
    }
}
