package io.nioproxy;

import io.nioproxy.config.IoMode;
import io.nioproxy.testing.ProxyHarness;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The start-up warm-up runs real traffic through a private balancer and leaves no socket or thread behind. */
class WarmUpTest {
    @Test
    void warmUpRelaysItsTrafficAndCleansUp() throws Exception {
        long fds = ProxyHarness.openFds();
        String summary = WarmUp.run(4000, io.nioproxy.sys.Linux.AVAILABLE ? IoMode.EPOLL : IoMode.NIO);
        // rounds of 500 round trips and 500 short connections (an eighth each), 4 to 16 of them, all completed
        java.util.regex.Matcher m = java.util.regex.Pattern
                .compile("warm-up (\\d+) rounds, (\\d+) round trips, (\\d+) connections and (\\d+) empty polls in \\d+ ms")
                .matcher(summary);
        assertTrue(m.matches(), summary);
        int rounds = Integer.parseInt(m.group(1));
        assertTrue(rounds >= 4 && rounds <= 16, summary);
        assertEquals(rounds * 496L, Long.parseLong(m.group(2)), summary); // 500 / 8 clients = 62 each
        assertEquals(m.group(2), m.group(3), summary);
        // each round ends with 4 waits that find nothing, as the real loop's first wait will (see WarmUp.idleTurns)
        assertEquals(rounds * 4L, Long.parseLong(m.group(4)), summary);
        ProxyHarness.await("warm-up threads and sockets gone", java.time.Duration.ofSeconds(10),
                () -> ProxyHarness.openFds() <= fds + 2 && Thread.getAllStackTraces().keySet().stream()
                        .noneMatch(t -> t.getName().startsWith("nioproxy-warmup") && t.isAlive()));
        assertEquals("warm-up off", WarmUp.run(0, IoMode.NIO));
    }
}
