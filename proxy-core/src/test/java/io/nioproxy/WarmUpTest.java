package io.nioproxy;

import io.nioproxy.testing.ProxyHarness;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The start-up warm-up runs real traffic through a private balancer and leaves no socket or thread behind. */
class WarmUpTest {
    @Test
    void warmUpRelaysItsTrafficAndCleansUp() throws Exception {
        long fds = ProxyHarness.openFds();
        String summary = WarmUp.run(4000);
        assertTrue(summary.startsWith("warm-up 4000 round trips and 100 connections in "), summary);
        ProxyHarness.await("warm-up threads and sockets gone", java.time.Duration.ofSeconds(10),
                () -> ProxyHarness.openFds() <= fds + 2 && Thread.getAllStackTraces().keySet().stream()
                        .noneMatch(t -> t.getName().startsWith("nioproxy-warmup") && t.isAlive()));
        assertEquals("warm-up off", WarmUp.run(0));
    }
}
