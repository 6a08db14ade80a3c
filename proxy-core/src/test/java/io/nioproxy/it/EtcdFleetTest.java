package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.testing.EtcdCluster;
import io.nioproxy.testing.Gate;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A fleet: three balancers sharing their membership through a real three-member etcd cluster on loopback. Changes
 * through etcdctl and through one instance's admin endpoint reach every instance with the same generation, and every
 * instance sends each of 1,000 client addresses (real sockets from 127.1.x.y) to the same backend; a backend
 * registered under a lease that is not renewed leaves all three; etcd losing a member changes nothing, losing its
 * quorum keeps traffic on the last membership, and its return resumes the watch with no change missed (a fourth
 * instance that talks to one member only proves the resume, and the full re-read after a compaction).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EtcdFleetTest {
    private static final Duration SECOND = Duration.ofSeconds(1);
    private static final Pattern GENERATION = Pattern.compile("\"generation\":(\\d+),\"digest\":\"([0-9a-f]+)\"");

    private EtcdCluster etcd;
    private ProxyHarness h;
    private final List<TcpServer> backends = new ArrayList<>();
    private final List<Proxy> fleet = new ArrayList<>();
    private final List<String> sources = new ArrayList<>();

    @BeforeAll
    void start(@TempDir Path dir) throws Exception {
        etcd = new EtcdCluster(dir, 3);
        h = new ProxyHarness();
        for (int i = 0; i < 6; i++) {
            backends.add(h.add(TcpServer.named("b" + i)));
        }
        for (int i = 0; i < 3; i++) {
            etcd.etcdctl("put", key(i), "{\"weight\":1}");
        }
        for (int i = 0; i < 3; i++) {
            // no affinity table: it is each instance's own memory (docs/scaling.md); here the hash table alone decides
            fleet.add(h.start("proxy.etcd.endpoints", etcd.endpoints(), "proxy.admin", "127.0.0.1:0",
                    "proxy.workers", "1", "proxy.affinity.ttl", "0"));
        }
        for (int i = 0; i < 1000; i++) {
            sources.add("127.1." + (i / 250) + "." + (1 + i % 250));
        }
    }

    @AfterAll
    void stop() throws Exception {
        if (h != null) {
            h.close();
        }
        if (etcd != null) {
            etcd.close();
        }
    }

    private String key(int backend) {
        return "/nioproxy/default/" + backends.get(backend).address();
    }

    @Test
    @Order(1)
    void everyInstanceStartsWithTheSameMembershipAndRoutesAlike() throws Exception {
        for (Proxy p : fleet) {
            assertEquals(3, p.listeners().get(0).registry().backends().size(), "three backends from etcd");
        }
        String[] first = membership(fleet.get(0));
        for (Proxy p : fleet) {
            assertEquals(first[1], membership(p)[1], "same digest");
            Http.Response r = Http.request(p.adminAddress(), "GET", "/healthz");
            assertTrue(r.body().startsWith("ok\netcd: ok, revision "), r.body());
        }
        Map<String, Integer> spread = assertAgree("at start");
        assertEquals(3, spread.size(), "every backend takes clients: " + spread);
    }

    @Test
    @Order(2)
    void changesThroughEtcdctlReachEveryInstanceWithinASecond() throws Exception {
        long rev = etcd.revisionOf("put", key(3), "{\"weight\":1}");
        awaitGeneration("b3 added with etcdctl", rev, SECOND);
        assertEquals(4, assertAgree("after adding b3").size());

        rev = etcd.revisionOf("put", key(0), "{\"weight\":3}");
        awaitGeneration("b0 re-weighted with etcdctl", rev, SECOND);
        for (Proxy p : fleet) {
            assertEquals(3, backend(p, 0).weight());
        }
        Map<String, Integer> spread = assertAgree("after b0's weight 3");
        assertTrue(spread.get("b0") > spread.get("b1") * 2, "weight 3 takes about three shares: " + spread);

        rev = etcd.revisionOf("put", key(1), "{\"weight\":1,\"state\":\"draining\"}");
        awaitGeneration("b1 drained with etcdctl", rev, SECOND);
        for (Proxy p : fleet) {
            assertEquals(Backend.State.DRAINING, backend(p, 1).state());
        }
        assertFalse(assertAgree("b1 draining").containsKey("b1"), "a drained backend takes no new client");

        rev = etcd.revisionOf("del", key(1));
        awaitGeneration("b1 removed with etcdctl", rev, SECOND);
        for (Proxy p : fleet) {
            assertNull(find(p, 1), "b1 gone");
        }
        assertAgree("after removing b1");
    }

    @Test
    @Order(3)
    void changesThroughOneInstancesAdminSteerTheFleet() throws Exception {
        Proxy one = fleet.get(1);
        String b1 = backends.get(1).address();
        Http.Response r = Http.request(one.adminAddress(), "POST", "/backends?address=" + b1 + "&weight=2");
        assertEquals(200, r.status(), r.body());
        assertTrue(r.body().contains("\"applied\":true"), r.body());
        long rev = revision(r.body());
        assertTrue(etcd.etcdctl("get", key(1)).contains("\"weight\":2"), "written to etcd");
        awaitGeneration("b1 added through the admin endpoint", rev, SECOND);
        assertEquals(4, assertAgree("after the admin add").size());

        r = Http.request(one.adminAddress(), "POST", "/backends/weight?address=" + b1 + "&weight=1");
        awaitGeneration("b1 re-weighted through the admin endpoint", revision(r.body()), SECOND);
        for (Proxy p : fleet) {
            assertEquals(1, backend(p, 1).weight());
        }

        r = Http.request(one.adminAddress(), "POST", "/backends/drain?address=" + backends.get(3).address());
        awaitGeneration("b3 drained through the admin endpoint", revision(r.body()), SECOND);
        for (Proxy p : fleet) {
            assertEquals(Backend.State.DRAINING, backend(p, 3).state());
        }
        assertAgree("b3 draining");

        r = Http.request(one.adminAddress(), "POST", "/backends/remove?address=" + backends.get(3).address());
        awaitGeneration("b3 removed through the admin endpoint", revision(r.body()), SECOND);
        for (Proxy p : fleet) {
            assertNull(find(p, 3));
        }
        assertEquals("", etcd.etcdctl("get", key(3)).trim(), "deleted from etcd");
        assertAgree("after the admin remove");

        r = Http.request(one.adminAddress(), "POST", "/backends/weight?address=" + b1 + "&weight=900");
        assertEquals(400, r.status(), "a bad weight is refused before anything is written: " + r.body());
        assertTrue(etcd.etcdctl("get", key(1)).contains("\"weight\":1"), "etcd untouched");
    }

    @Test
    @Order(4)
    void aBackendWhoseLeaseIsNotRenewedLeavesEveryInstance() throws Exception {
        String grant = etcd.etcdctl("lease", "grant", "2");
        Matcher m = Pattern.compile("lease ([0-9a-f]+) granted").matcher(grant);
        assertTrue(m.find(), grant);
        long rev = etcd.revisionOf("put", "--lease=" + m.group(1), key(4), "{}");
        awaitGeneration("b4 registered under a lease", rev, SECOND);
        for (Proxy p : fleet) {
            assertTrue(find(p, 4) != null, "b4 on every instance while its lease lives");
        }
        // nobody renews it: etcd deletes the key when the lease expires, and every instance drops it then
        await("b4 gone from all three", Duration.ofSeconds(15), () -> fleet.stream().allMatch(p -> find(p, 4) == null));
        String[] g = membership(fleet.get(0));
        awaitGeneration("the same generation after the expiry", Long.parseLong(g[0]), SECOND);
        assertAgree("after the lease expired");
    }

    @Test
    @Order(5)
    void etcdLosingAMemberThenItsQuorumNeverStopsTraffic() throws Exception {
        etcd.kill(0);
        long rev = etcd.revisionOf("put", key(5), "{\"weight\":1}");
        // an instance watching the killed member reconnects to the next (back-off from 0.1 s)
        awaitGeneration("b5 added with one member dead", rev, Duration.ofSeconds(10));
        Map<String, Integer> before = assertAgree("one member dead");
        assertTrue(before.containsKey("b5"));
        String[] membershipBefore = membership(fleet.get(0));

        etcd.kill(1); // no quorum now
        for (Proxy p : fleet) {
            await("etcd reported unreachable", Duration.ofSeconds(20), () -> !p.membership().healthy());
            Http.Response r = Http.request(p.adminAddress(), "GET", "/healthz");
            assertEquals(200, r.status(), "still ready: it serves the last membership");
            assertTrue(r.body().contains("etcd: unreachable since"), r.body());
            assertTrue(Http.request(p.adminAddress(), "GET", "/metrics").body().contains("\nnioproxy_etcd_up 0\n"));
            assertEquals(membershipBefore[1], membership(p)[1], "the last membership stays");
        }
        assertEquals(before, assertAgree("without a quorum"), "traffic flows as before");
        Http.Response refused = Http.request(fleet.get(2).adminAddress(), "POST",
                "/backends/weight?address=" + backends.get(0).address() + "&weight=5");
        assertEquals(503, refused.status(), "a change etcd cannot take is refused: " + refused.body());
        assertEquals(3, backend(fleet.get(2), 0).weight(), "and changes nothing");

        etcd.start(0);
        etcd.start(1);
        etcd.awaitWritable(Duration.ofSeconds(30));
        // changes at once, while the instances may still be backing off: none may be missed
        etcd.etcdctl("put", key(2), "{\"weight\":2}");
        etcd.etcdctl("del", key(5));
        long last = etcd.revisionOf("put", key(3), "{\"weight\":1}");
        awaitGeneration("every change after etcd's return", last, Duration.ofSeconds(20));
        for (Proxy p : fleet) {
            assertEquals(2, backend(p, 2).weight());
            assertNull(find(p, 5));
            assertTrue(find(p, 3) != null);
            await("etcd reported back", Duration.ofSeconds(10), () -> p.membership().healthy());
        }
        assertAgree("after etcd's return");
    }

    @Test
    @Order(6)
    void anInstanceCutOffResumesWithoutMissingAChangeAndReadsAllAfterACompaction() throws Exception {
        // the lone instance reaches etcd only through a gate: cut, it is partitioned from a cluster that runs on
        Gate gate = h.add(new Gate(new java.net.InetSocketAddress("127.0.0.1",
                Integer.parseInt(etcd.endpoint(2).substring(etcd.endpoint(2).indexOf(':') + 1)))));
        Proxy lone = h.start("proxy.etcd.endpoints", gate.address(), "proxy.admin", "127.0.0.1:0",
                "proxy.workers", "1", "proxy.affinity.ttl", "0");
        fleet.add(lone);
        assertEquals(membership(fleet.get(0))[1], membership(lone)[1]);
        long reads = lone.membership().fullReads();

        gate.cut();
        etcd.etcdctl("put", key(4), "{\"weight\":2}");
        etcd.etcdctl("del", key(3));
        long rev = etcd.revisionOf("put", key(0), "{\"weight\":1}");
        assertEquals(2, backend(fleet.get(0), 4).weight(), "the others see the changes");
        assertTrue(find(lone, 4) == null, "the lone instance cannot");
        gate.open();
        awaitGeneration("the lone instance caught up", rev, Duration.ofSeconds(20));
        assertEquals(reads, lone.membership().fullReads(), "resumed from its revision, not read again");
        assertEquals(2, backend(lone, 4).weight());
        assertNull(find(lone, 3));

        gate.cut();
        etcd.etcdctl("del", key(4));
        rev = etcd.revisionOf("put", key(3), "{\"weight\":4}");
        etcd.etcdctl("compact", String.valueOf(rev), "--physical");
        long compacted = rev;
        await("member 2 applied the compaction", Duration.ofSeconds(10), () -> {
            try {
                etcd.etcdctlAt(2, "get", key(3), "--rev=" + (compacted - 1));
                return false;
            } catch (AssertionError e) {
                return e.getMessage().contains("compacted");
            } catch (Exception e) {
                return false;
            }
        });
        gate.open();
        awaitGeneration("the lone instance caught up after a compaction", rev, Duration.ofSeconds(20));
        assertEquals(reads + 1, lone.membership().fullReads(), "its revision was compacted: read everything again");
        assertNull(find(lone, 4));
        assertEquals(4, backend(lone, 3).weight());
        assertAgree("four instances after a compaction");
    }

    @Test
    @Order(7)
    void badKeysAndValuesAreIgnoredAndLoseNothing() throws Exception {
        Proxy p = fleet.get(0);
        String[] before = membership(p);
        int weight = backend(p, 3).weight();
        etcd.etcdctl("put", "/nioproxy/default/backend.example:80", "{}");
        etcd.etcdctl("put", "/nioproxy/default/127.0.0.1:1", "{\"weight\":0}");
        etcd.etcdctl("put", key(3), "not json");
        long rev = etcd.revisionOf("put", "/nioproxy/nosuchpool/127.0.0.1:2", "{}");
        await("every instance has read past the bad keys", Duration.ofSeconds(10),
                () -> fleet.stream().allMatch(x -> x.membership().revision() >= rev));
        for (Proxy x : fleet) {
            assertEquals(before[1], membership(x)[1], "no member added, removed or changed by bad input");
            assertEquals(weight, backend(x, 3).weight(), "b3 keeps its previous settings");
        }
        assertAgree("after bad input");
        long fixed = etcd.revisionOf("put", key(3), "{\"weight\":2}");
        awaitGeneration("a good value again", fixed, SECOND);
        etcd.etcdctl("del", "/nioproxy/default/backend.example:80", "/nioproxy/default/127.0.0.1:1");
        etcd.etcdctl("del", "/nioproxy/nosuchpool/127.0.0.1:2");
    }

    @Test
    @Order(8)
    void anInstanceStartedWhileEtcdIsAwayServesOnceItAnswers() throws Exception {
        Gate gate = h.add(new Gate(new java.net.InetSocketAddress("127.0.0.1",
                Integer.parseInt(etcd.endpoint(1).substring(etcd.endpoint(1).indexOf(':') + 1)))));
        gate.cut();
        long t0 = System.nanoTime();
        Proxy late = h.start("proxy.etcd.endpoints", gate.address(), "proxy.admin", "127.0.0.1:0",
                "proxy.workers", "1", "proxy.affinity.ttl", "0", "proxy.etcd.timeout", "1s");
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "start does not hang on etcd");
        assertEquals(0, late.listeners().get(0).registry().backends().size(), "no membership yet");
        Http.Response r = Http.request(late.adminAddress(), "GET", "/healthz");
        assertEquals(200, r.status());
        assertTrue(r.body().contains("etcd: unreachable since"), r.body());
        gate.open();
        String digest = membership(fleet.get(0))[1];
        await("the late instance has the fleet's membership", Duration.ofSeconds(20),
                () -> membership(late)[1].equals(digest));
        fleet.add(late);
        assertAgree("with the late instance");
    }

    /** Every instance sends each of the 1,000 sources to the same backend; returns clients per backend. */
    private Map<String, Integer> assertAgree(String when) throws Exception {
        Map<String, Integer> spread = new TreeMap<>();
        for (String s : sources) {
            String first = null;
            for (Proxy p : fleet) {
                String b;
                try (Socket sock = connect(p, s)) {
                    b = readLine(sock.getInputStream());
                }
                if (first == null) {
                    first = b;
                } else {
                    assertEquals(first, b, "client " + s + " " + when);
                }
            }
            spread.merge(first, 1, Integer::sum);
        }
        return spread;
    }

    /** Waits until every instance reports generation {@code rev} with one digest. */
    private void awaitGeneration(String what, long rev, Duration within) {
        long t0 = System.nanoTime();
        await(what + ": generation " + rev + " everywhere", within, () -> {
            String digest = null;
            for (Proxy p : fleet) {
                String[] g = membership(p);
                if (Long.parseLong(g[0]) != rev || (digest != null && !digest.equals(g[1]))) {
                    return false;
                }
                digest = g[1];
            }
            return true;
        });
        System.out.printf("%s: every instance at generation %d after %.0f ms%n", what, rev,
                (System.nanoTime() - t0) / 1e6);
    }

    /** {generation, digest} of the default listener, as GET /membership reports them. */
    private static String[] membership(Proxy p) {
        try {
            String body = Http.request(p.adminAddress(), "GET", "/membership").body();
            Matcher m = GENERATION.matcher(body);
            if (!m.find()) {
                throw new AssertionError("no generation in " + body);
            }
            return new String[] {m.group(1), m.group(2)};
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    private static long revision(String adminReply) {
        Matcher m = Pattern.compile("\"revision\":(\\d+)").matcher(adminReply);
        assertTrue(m.find(), adminReply);
        return Long.parseLong(m.group(1));
    }

    private Backend find(Proxy p, int backend) {
        Backend b = p.listeners().get(0).registry().find(backends.get(backend).address());
        return b == null || b.removed() ? null : b;
    }

    private Backend backend(Proxy p, int backend) {
        Backend b = find(p, backend);
        assertTrue(b != null, "b" + backend + " present");
        return b;
    }
}
