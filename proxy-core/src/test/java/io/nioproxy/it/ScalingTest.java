package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.net.Socket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Several balancers with the same backends and no shared state (docs/scaling.md): two instances, backends listed
 * in different orders, agree for 1,000 client addresses over real sockets — and still agree after the same backend
 * was removed from both.
 */
class ScalingTest {
    @Test
    void twoInstancesAgreeFor1000SourcesAlsoAfterARemoval() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            List<String> addresses = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                addresses.add(h.add(TcpServer.named("b" + i)).address());
            }
            List<String> reversed = new ArrayList<>(addresses);
            java.util.Collections.reverse(reversed);
            Proxy one = h.start("proxy.backends", String.join(",", addresses));
            Proxy two = h.start("proxy.backends", String.join(",", reversed), "proxy.workers", "1");
            List<String> sources = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                sources.add("127.0." + (1 + i / 250) + "." + (1 + i % 250));
            }
            Map<String, String> first = new HashMap<>();
            Map<String, Integer> spread = new HashMap<>();
            for (String s : sources) {
                String a = backendOf(one, s);
                assertEquals(a, backendOf(two, s), s);
                first.put(s, a);
                spread.merge(a, 1, Integer::sum);
            }
            for (int n : spread.values()) {
                assertTrue(n > 140 && n < 260, "1000 sources over 5 backends: " + spread);
            }
            String gone = addresses.get(2);
            one.listeners().get(0).registry().remove(gone);
            two.listeners().get(0).registry().remove(gone);
            int moved = 0;
            for (String s : sources) {
                String a = backendOf(one, s);
                assertEquals(a, backendOf(two, s), s + " after the removal");
                if (!a.equals(first.get(s))) {
                    moved++;
                    assertEquals("b2", first.get(s), "only clients of the removed backend moved");
                }
            }
            assertEquals(spread.get("b2"), moved);
        }
    }

    static String backendOf(Proxy p, String source) throws Exception {
        try (Socket s = connect(p, source)) {
            return readLine(s.getInputStream());
        }
    }
}
