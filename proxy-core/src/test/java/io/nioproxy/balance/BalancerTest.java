package io.nioproxy.balance;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.nioproxy.balance.MaglevTableTest.backend;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BalancerTest {
    static List<Backend> backends(int n) {
        List<Backend> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(backend("127.0.0.1:" + (9000 + i), 1));
        }
        return l;
    }

    @Test
    void sourceIpPicksTheMaglevSlotOfTheClientAddress() throws Exception {
        List<Backend> b = backends(3);
        Balancer bal = new Balancer(BalancePolicy.SOURCE_IP, b);
        BackendSet set = bal.backends();
        for (int i = 2; i < 60; i++) {
            long h = Hashing.clientHash(InetAddress.getByName("127.0.0." + i), -1);
            // reference: the naive model — the table's slot for the hash
            Backend expected = set.get(set.maglev().lookup(h));
            assertEquals(expected, bal.pick(h, null, 0));
            assertEquals(expected, bal.pick(h, null, 0), "the same client gets the same backend again");
        }
    }

    @Test
    void sourceIpIgnoresPortAndSourceIpPortDoesNot() throws Exception {
        InetAddress a = InetAddress.getByName("192.0.2.7");
        assertEquals(Hashing.clientHash(a, -1), Hashing.clientHash(a, -1));
        Set<Long> perPort = new HashSet<>();
        for (int port = 1000; port < 1100; port++) {
            perPort.add(Hashing.clientHash(a, port));
        }
        assertEquals(100, perPort.size());
        Balancer bal = new Balancer(BalancePolicy.SOURCE_IP_PORT, backends(3));
        Set<Backend> reached = new HashSet<>();
        for (long h : perPort) {
            reached.add(bal.pick(h, null, 0));
        }
        assertEquals(3, reached.size(), "one address on many ports spreads over every backend");
    }

    @Test
    void retriesFollowADeterministicOrderAndNeverRepeat() {
        List<Backend> b = backends(5);
        Balancer one = new Balancer(BalancePolicy.SOURCE_IP, b);
        List<Backend> reversed = new ArrayList<>(b);
        java.util.Collections.reverse(reversed);
        Balancer two = new Balancer(BalancePolicy.SOURCE_IP, reversed);
        for (long key = 0; key < 500; key++) {
            long h = Hashing.mix(key);
            Backend[] tried1 = new Backend[5];
            Backend[] tried2 = new Backend[5];
            for (int attempt = 0; attempt < 5; attempt++) {
                Backend x = one.pick(h, tried1, attempt);
                Backend y = two.pick(h, tried2, attempt);
                assertNotNull(x);
                assertEquals(x.identity(), y.identity(), "two instances retry in the same order");
                for (int j = 0; j < attempt; j++) {
                    assertTrue(tried1[j] != x, "a backend is never tried twice");
                }
                tried1[attempt] = x;
                tried2[attempt] = y;
            }
            assertNull(one.pick(h, tried1, 5), "nothing left after every backend was tried");
        }
    }

    @Test
    void roundRobinFollowsWeights() {
        List<Backend> b = List.of(backend("127.0.0.1:1", 1), backend("127.0.0.1:2", 3));
        Balancer bal = new Balancer(BalancePolicy.ROUND_ROBIN, b);
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 400; i++) {
            counts.merge(bal.pick(0, null, 0).identity(), 1, Integer::sum);
        }
        assertEquals(100, counts.get("127.0.0.1:1"));
        assertEquals(300, counts.get("127.0.0.1:2"));
    }

    @Test
    void smoothWeightedSequenceInterleaves() {
        int[] seq = BackendSet.smoothWeightedSequence(new int[] {5, 1, 1});
        assertEquals(7, seq.length);
        // nginx's documented example: a a b a c a a  (never five of 'a' in a row)
        assertEquals("[0, 0, 1, 0, 2, 0, 0]", java.util.Arrays.toString(seq));
    }

    @Test
    void leastConnPicksTheBackendWithFewestActiveSessions() {
        List<Backend> b = backends(3);
        Balancer bal = new Balancer(BalancePolicy.LEAST_CONN, b);
        for (int i = 0; i < 30; i++) {
            bal.pick(0, null, 0).reserve();
        }
        for (Backend x : b) {
            assertEquals(10, x.active(), "even spread of 30 sessions over 3 backends");
        }
        b.get(1).sessionClosed();
        b.get(1).sessionClosed();
        assertEquals(b.get(1), bal.pick(0, null, 0));
    }

    @Test
    void noBackendInRotationPicksNothing() {
        Balancer bal = new Balancer(BalancePolicy.SOURCE_IP, List.of());
        assertNull(bal.pick(1, null, 0));
        bal.update(backends(2));
        assertNotNull(bal.pick(1, null, 0));
    }
}
