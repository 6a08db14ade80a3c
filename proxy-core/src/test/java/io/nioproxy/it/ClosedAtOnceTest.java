package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.net.Socket;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A session closed from outside its loop's events — by the admin endpoint, a drain deadline, a rebalance — reaches
 * its client at once, even when the loop is idle. (In java.nio mode its sockets once waited for the loop's next
 * wake-up, up to a second later: the close of a socket is deferred until its key is deregistered, and the loop went
 * to sleep first.)
 */
class ClosedAtOnceTest {
    @Test
    void anAdminCloseOnAnIdleLoopReachesTheClientAtOnce() throws Exception {
        try (ProxyHarness h = new ProxyHarness();
             TcpServer b = h.add(TcpServer.named("b"))) {
            Proxy p = h.start("proxy.backends", b.address(), "proxy.admin", "127.0.0.1:0", "proxy.workers", "1");
            for (int i = 0; i < 5; i++) {
                String source = "127.0.3." + (i + 1);
                try (Socket s = ProxyHarness.connect(p, source)) {
                    assertEquals("b", ProxyHarness.readLine(s.getInputStream()));
                    Thread.sleep(300); // the loop has nothing to do: it sleeps in its poll
                    assertEquals("{\"closed\":1}",
                            Http.request(p.adminAddress(), "POST", "/connections/close?client=" + source).body());
                    long t0 = System.nanoTime();
                    assertEquals(-1, ProxyHarness.readOrReset(s));
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    // the close is done when the admin call returns; half a second is slack for a busy machine, and
                    // half the loop's longest sleep (1 s), which the old code waited for
                    assertTrue(ms < 500, "the client saw its close " + ms + " ms after the admin call returned");
                }
            }
        }
    }
}
