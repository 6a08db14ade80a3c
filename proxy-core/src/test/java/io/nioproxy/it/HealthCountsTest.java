package io.nioproxy.it;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.health.HealthChecker;
import io.nioproxy.log.Log;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.nioproxy.testing.ProxyHarness.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Rise and fall are exact, as HAProxy's {@code 4be_1srv_health_checks.vtc} checks them: a backend goes down at its
 * {@code fall}-th failed check in a row — not at an earlier one, not after a later one — and comes back at its
 * {@code rise}-th good check; each change is logged once with the count it happened at. Observed against the checker's
 * own counts, never against the clock.
 */
class HealthCountsTest {
    private static final int FALL = 3;
    private static final int RISE = 2;

    /** The state and the checker's [passed, failed] counts, read so that no check ran between them. */
    private record Seen(Backend.State state, long passed, long failed) {
    }

    private static Seen observe(Backend b, HealthChecker hc) {
        while (true) {
            Backend.State s1 = b.state();
            long[] c = hc.checkCounts(b);
            long[] c2 = hc.checkCounts(b);
            Backend.State s2 = b.state();
            if (s1 == s2 && c[0] == c2[0] && c[1] == c2[1]) {
                return new Seen(s1, c[0], c[1]);
            }
        }
    }

    @Test
    void aBackendGoesDownAtItsFallthFailureAndUpAtItsRisethSuccess() throws Exception {
        List<String> lines = new ArrayList<>();
        PrintStream original = System.err;
        PrintStream tee = new PrintStream(new OutputStream() {
            private final ByteArrayOutputStream line = new ByteArrayOutputStream();

            @Override
            public synchronized void write(int b) {
                original.write(b);
                if (b == '\n') {
                    synchronized (lines) {
                        lines.add(line.toString(StandardCharsets.UTF_8));
                    }
                    line.reset();
                } else {
                    line.write(b);
                }
            }
        }, true, StandardCharsets.UTF_8);
        Log.output(tee);
        try (ProxyHarness h = new ProxyHarness()) {
            TcpServer a = TcpServer.named("a");
            TcpServer b = h.add(TcpServer.named("b"));
            int aPort = a.port();
            Proxy p = h.start("proxy.backends", a.address() + "," + b.address(), "proxy.health.interval", "150ms",
                    "proxy.health.timeout", "100ms", "proxy.health.fall", String.valueOf(FALL),
                    "proxy.health.rise", String.valueOf(RISE), "proxy.health.holddown", "0",
                    "proxy.health.passive", "false");
            HealthChecker hc = p.healthChecker(0);
            Backend ba = p.listeners().get(0).backends().stream()
                    .filter(x -> x.identity().equals(a.address())).findFirst().orElseThrow();
            await("a few good checks", Duration.ofSeconds(10), () -> hc.checkCounts(ba)[0] >= 2);

            a.close();
            long failedBefore = observe(ba, hc).failed();
            boolean down = false;
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!down && System.nanoTime() < deadline) {
                Seen s = observe(ba, hc);
                long failures = s.failed() - failedBefore;
                if (s.state() == Backend.State.DOWN) {
                    assertTrue(failures >= FALL, "down after " + failures + " failed checks: earlier than fall");
                    down = true;
                } else {
                    // the count is bumped just before the state changes: UP at FALL is that instant, UP past it is late
                    assertTrue(failures <= FALL, "still up after " + failures + " failed checks: later than fall");
                }
                Thread.sleep(2);
            }
            assertTrue(down, "never marked down");

            try (TcpServer again = h.add(TcpServer.named("a", new InetSocketAddress(InetAddress.getLoopbackAddress(), aPort)))) {
                long passedBefore = observe(ba, hc).passed();
                boolean up = false;
                deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (!up && System.nanoTime() < deadline) {
                    Seen s = observe(ba, hc);
                    long successes = s.passed() - passedBefore;
                    if (s.state() == Backend.State.UP) {
                        assertTrue(successes >= RISE, "up after " + successes + " good checks: earlier than rise");
                        up = true;
                    } else {
                        assertTrue(successes <= RISE, "still down after " + successes + " good checks: later than rise");
                    }
                    Thread.sleep(2);
                }
                assertTrue(up, "never marked up again");
            }
            String id = a.address();
            await("both changes logged", Duration.ofSeconds(5), () -> {
                synchronized (lines) {
                    return lines.stream().anyMatch(l -> l.contains("backend " + id + " is UP"));
                }
            });
            synchronized (lines) {
                assertTrue(lines.stream().filter(l -> l.contains("backend " + id + " is DOWN (" + FALL + " failed checks"))
                        .count() == 1, "one DOWN line at the fall count: " + lines);
                assertTrue(lines.stream().filter(l -> l.contains("backend " + id + " is UP (" + RISE + " good checks)"))
                        .count() == 1, "one UP line at the rise count: " + lines);
            }
        } finally {
            Log.output(original);
        }
    }
}
