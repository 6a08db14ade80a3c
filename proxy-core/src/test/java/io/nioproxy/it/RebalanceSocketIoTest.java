package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.nioproxy.testing.ProxyHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Scale-out of a real socket.io fleet (the {@code socket.io} npm package, servers and clients, in node): 60 clients
 * from distinct loopback addresses on two servers, a third server added live, and the balancer's rebalance. Every
 * moved client reconnects — long-polling first, then its WebSocket upgrade — whole on its new server: no request of
 * it reaches the old one afterwards (the servers count engine.io's "Session ID unknown" refusals: none), every echo
 * is answered by the server that greeted the connection, clients that did not need to move are never disconnected,
 * and the disconnects come at the configured pace.
 */
class RebalanceSocketIoTest {
    private static final Path NODE_DIR = Path.of("src", "test", "node");
    private static final int CLIENTS = 60;

    private static void requireNode() {
        boolean ready = Files.isDirectory(NODE_DIR.resolve("node_modules").resolve("socket.io"));
        if (!ready) {
            if (System.getenv("CI") != null) {
                throw new AssertionError("socket.io is required in CI (.ci/run runs npm ci in " + NODE_DIR + ")");
            }
            Assumptions.abort("no socket.io in " + NODE_DIR + "/node_modules: run npm ci there");
        }
    }

    /** A node process whose output lines are queued. */
    private static final class Node implements AutoCloseable {
        final Process process;
        final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();

        Node(String... args) throws IOException {
            List<String> cmd = new ArrayList<>(List.of("node"));
            cmd.addAll(List.of(args));
            process = new ProcessBuilder(cmd).directory(NODE_DIR.toFile()).redirectErrorStream(true).start();
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    String l;
                    while ((l = r.readLine()) != null) {
                        lines.add(l);
                    }
                } catch (IOException e) {
                    // ended
                }
            }, "node-output");
            t.setDaemon(true);
            t.start();
        }

        String await(String prefix, long seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            List<String> seen = new ArrayList<>();
            while (System.nanoTime() < deadline) {
                String l = lines.poll(100, TimeUnit.MILLISECONDS);
                if (l != null) {
                    if (l.startsWith(prefix)) {
                        return l;
                    }
                    seen.add(l);
                }
            }
            throw new AssertionError("node never printed '" + prefix + "': " + seen);
        }

        @Override
        public void close() throws Exception {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    /** What the clients report of one client. */
    private record ClientReport(String address, List<String> backends, int disconnects, List<Long> disconnectedAt,
                                int echoes, int wrong) {
        static final Pattern LINE = Pattern.compile(
                "client (\\S+) backends=(\\S*) disconnects=(\\d+) at=(\\S*) echoes=(\\d+) wrong=(\\d+).*");

        static ClientReport parse(String line) {
            Matcher m = LINE.matcher(line);
            assertTrue(m.matches(), line);
            List<Long> at = new ArrayList<>();
            for (String t : m.group(4).split(",")) {
                if (!t.isEmpty()) {
                    at.add(Long.parseLong(t));
                }
            }
            return new ClientReport(m.group(1), List.of(m.group(2).split(",")), Integer.parseInt(m.group(3)), at,
                    Integer.parseInt(m.group(5)), Integer.parseInt(m.group(6)));
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
        return sum == 0 ? 1 : max / (sum / bs.size());
    }

    @Test
    void sourceIpMovesEachReOwnedClientWholeWithItsPollingAndUpgrade() throws Exception {
        fleet("source-ip", "polling,websocket", "1.25");
    }

    @Test
    void leastConnMovesTheExcessOfTheBusiestServers() throws Exception {
        // without affinity a client's polling requests could reach two servers: socket.io needs its WebSocket-only
        // transport behind least-conn (as behind any balancer without stickiness)
        fleet("least-conn", "websocket", "1.2");
    }

    private void fleet(String balance, String transports, String tolerance) throws Exception {
        requireNode();
        int[] ports = new int[3];
        List<Node> servers = new ArrayList<>();
        try (ProxyHarness h = new ProxyHarness()) {
            for (int i = 0; i < 3; i++) {
                // closed by the harness before it counts this JVM's descriptors (each holds three pipes)
                // port 0: the server takes a free port itself and says which (no window for another process)
                Node s = h.add(new Node("fleet-server.js", "s" + (i + 1), "0"));
                servers.add(s);
                String[] listening = s.await("listening", 30).split(" ");
                ports[i] = Integer.parseInt(listening[listening.length - 1]);
                h.ignoreSocketsOnPort(ports[i]);
            }
            Proxy p = h.start("proxy.backends", "127.0.0.1:" + ports[0] + ",127.0.0.1:" + ports[1],
                    "proxy.balance", balance, "proxy.admin", "127.0.0.1:0", "proxy.rebalance", "on",
                    "proxy.rebalance.tolerance", tolerance, "proxy.rebalance.rate", "10",
                    "proxy.rebalance.settle", "1s", "proxy.rebalance.max.share", "1", "proxy.rebalance.after", "0");
            try (Node clients = new Node("fleet-clients.js", String.valueOf(ProxyHarness.port(p)),
                    String.valueOf(CLIENTS), "127.0.2", transports)) {
                clients.await("connected " + CLIENTS, 90);
                // sessions per backend every 100 ms, for the chart in docs/operations.md
                Path csv = Path.of("target", "rebalance-" + balance + ".csv");
                List<String> samples = Collections.synchronizedList(new ArrayList<>());
                long start = System.nanoTime();
                Thread sampler = new Thread(() -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        StringBuilder row = new StringBuilder(String.valueOf((System.nanoTime() - start) / 1_000_000));
                        List<Backend> bs = p.listeners().get(0).backends();
                        for (int port : ports) {
                            row.append(',').append(bs.stream().filter(b -> b.address().getPort() == port)
                                    .mapToInt(Backend::active).findFirst().orElse(0));
                        }
                        samples.add(row.toString());
                        try {
                            Thread.sleep(100);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }, "rebalance-sampler");
                sampler.setDaemon(true);
                sampler.start();
                Thread.sleep(1000);
                double before = spread(p);
                long added = System.currentTimeMillis();
                p.listeners().get(0).registry().add(new InetSocketAddress("127.0.0.1", ports[2]), 1, "test");
                await("a rebalance ran and finished", Duration.ofSeconds(60), () ->
                        p.rebalancer("default").sessionsMoved() > 0 && p.rebalancer("default").running() == null);
                Thread.sleep(4000); // the moved clients reconnect (socket.io's back-off) and echo on their new server
                sampler.interrupt();
                sampler.join(2000);
                Files.createDirectories(csv.getParent());
                Files.write(csv, java.util.stream.Stream.concat(java.util.stream.Stream.of("ms,s1,s2,s3,added_ms="
                        + (added - System.currentTimeMillis() + (System.nanoTime() - start) / 1_000_000)),
                        samples.stream()).toList());
                OutputStream in = clients.process.getOutputStream();
                in.write("report\n".getBytes(StandardCharsets.US_ASCII));
                in.flush();
                List<ClientReport> reports = new ArrayList<>();
                String line;
                while (!(line = clients.await("", 30)).equals("end")) {
                    if (line.startsWith("client ")) {
                        reports.add(ClientReport.parse(line));
                    }
                }
                assertEquals(CLIENTS, reports.size());
                String s3 = "s3";
                List<Long> closes = new ArrayList<>();
                int moved = 0;
                for (ClientReport r : reports) {
                    assertEquals(0, r.wrong(), r + ": every echo answered by the server that greeted its connection");
                    assertTrue(r.echoes() > 0, r + ": echoed");
                    if (r.disconnects() == 0) {
                        assertEquals(1, r.backends().size(), r + ": never moved, never reconnected");
                        continue;
                    }
                    moved++;
                    assertEquals(1, r.disconnects(), r + ": moved once");
                    assertTrue(r.disconnectedAt().get(0) >= added, r + ": not before the new server came");
                    assertEquals(s3, r.backends().get(r.backends().size() - 1), r + ": reconnected on the new server");
                    closes.add(r.disconnectedAt().get(0));
                }
                assertTrue(moved > 0, "somebody moved");
                String metrics = Http.request(p.adminAddress(), "GET", "/metrics").body();
                assertTrue(metrics.contains("nioproxy_rebalance_moved_total{listener=\"default\",reason=\"backend_added\"} "
                        + (balance.equals("source-ip") ? moved : "")), "moved " + moved + ": " + metrics);
                for (int port : ports) {
                    String stats = Http.request(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), "GET",
                            "/stats").body();
                    assertTrue(stats.contains("\"sessionUnknown\":0"), "no request reached a server that did not"
                            + " know its session: " + stats);
                }
                Collections.sort(closes);
                for (int i = 0; i < closes.size(); i++) {
                    int inOneSecond = 0;
                    for (int j = i; j < closes.size() && closes.get(j) - closes.get(i) < 1000; j++) {
                        inOneSecond++;
                    }
                    assertTrue(inOneSecond <= 11, inOneSecond + " clients disconnected within a second at 10/s");
                }
                String after = Http.request(p.adminAddress(), "POST", "/rebalance?dry_run=true").body();
                assertTrue(spread(p) <= Double.parseDouble(tolerance) + 1e-9 || !after.contains("\"client\""),
                        "spread " + before + " -> " + spread(p) + " with moves left: " + after);
                System.out.printf("socket.io fleet, %s: spread %.2f -> %.2f, %d of %d clients moved%n", balance, before,
                        spread(p), moved, CLIENTS);
            }
        } finally {
            for (Node s : servers) {
                s.close();
            }
        }
    }
}
