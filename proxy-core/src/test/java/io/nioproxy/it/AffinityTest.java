package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.balance.BackendSet;
import io.nioproxy.balance.Hashing;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.Socket;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Source affinity over real sockets: clients bound to loopback sources 127.0.0.2 … 127.0.0.60 reach the backend the
 * Maglev table names, keep it across reconnects, and two balancers given the same backends in other orders agree.
 */
class AffinityTest {
    private ProxyHarness h;
    private final Map<String, String> nameByAddress = new HashMap<>();
    private String[] addresses;

    @BeforeEach
    void setUp() throws Exception {
        h = new ProxyHarness();
        addresses = new String[3];
        for (int i = 0; i < 3; i++) {
            String name = "backend-" + (char) ('a' + i);
            TcpServer s = h.add(TcpServer.named(name));
            addresses[i] = s.address();
            nameByAddress.put(s.address(), name);
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
    }

    private static String backendOf(Proxy p, String source) throws Exception {
        try (Socket s = connect(p, source)) {
            return readLine(s.getInputStream());
        }
    }

    private String predicted(Proxy p, String source) throws Exception {
        BackendSet set = p.listeners().get(0).route().balancer().backends();
        long hash = Hashing.clientHash(InetAddress.getByName(source), -1);
        return nameByAddress.get(set.get(set.maglev().lookup(hash)).identity());
    }

    @Test
    void everySourceReachesThePredictedBackendAndStaysThere() throws Exception {
        Proxy p = h.start("proxy.backends", String.join(",", addresses), "proxy.balance", "source-ip");
        Map<String, Integer> observed = new HashMap<>();
        Map<String, Integer> predictedCounts = new HashMap<>();
        for (int i = 2; i <= 60; i++) {
            String source = "127.0.0." + i;
            String expected = predicted(p, source);
            String first = backendOf(p, source);
            assertEquals(expected, first, source);
            for (int again = 0; again < 3; again++) {
                assertEquals(first, backendOf(p, source), source + " reconnect " + again);
            }
            observed.merge(first, 1, Integer::sum);
            predictedCounts.merge(expected, 1, Integer::sum);
        }
        assertEquals(predictedCounts, observed);
        assertEquals(3, observed.size(), "59 sources reach all three backends: " + observed);
        for (int n : observed.values()) {
            // 59 sources over 3 equal shares: binomial(59, 1/3) is below 8 with probability < 0.1%
            assertTrue(n >= 8, "spread " + observed);
        }
    }

    @Test
    void twoBalancersWithTheBackendsInOtherOrdersAgree() throws Exception {
        Proxy one = h.start("proxy.backends", addresses[0] + "," + addresses[1] + "," + addresses[2]);
        Proxy two = h.start("proxy.backends", addresses[2] + "," + addresses[0] + "," + addresses[1], "proxy.workers", "1");
        for (int i = 2; i <= 60; i++) {
            String source = "127.0.0." + i;
            assertEquals(backendOf(one, source), backendOf(two, source), source);
        }
    }

    @Test
    void sourceIpPortSpreadsOneAddressOverBackends() throws Exception {
        Proxy p = h.start("proxy.backends", String.join(",", addresses), "proxy.balance", "source-ip-port");
        Set<String> reached = new HashSet<>();
        for (int i = 0; i < 30; i++) {
            reached.add(backendOf(p, "127.0.0.9"));
        }
        assertEquals(3, reached.size(), "30 connections from one address on different ports");
    }

    @Test
    void roundRobinAndLeastConnSpreadEvenly() throws Exception {
        for (String policy : new String[] {"round-robin", "least-conn"}) {
            Proxy p = h.start("proxy.backends", String.join(",", addresses), "proxy.balance", policy,
                    "proxy.workers", "1");
            Map<String, Integer> counts = new HashMap<>();
            Socket[] held = new Socket[30];
            for (int i = 0; i < 30; i++) {
                held[i] = connect(p, "127.0.0.9");
                counts.merge(readLine(held[i].getInputStream()), 1, Integer::sum);
            }
            for (Socket s : held) {
                s.close();
            }
            assertEquals(Map.of("backend-a", 10, "backend-b", 10, "backend-c", 10), counts, policy);
        }
    }
}
