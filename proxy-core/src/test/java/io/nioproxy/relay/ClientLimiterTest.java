package io.nioproxy.relay;

import io.nioproxy.config.ConfigException;
import io.nioproxy.config.Settings;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-client rate as a sliding estimate over the last second, on the limiter's own clock (the loop's
 * {@code nanoTime}), so each case is exact: a burst across a second boundary is refused where a fixed per-second
 * window would have let a client open twice the rate, and a client at exactly the rate is never refused.
 */
class ClientLimiterTest {
    private static final long S = 1_000_000_000L;
    private static final long CLIENT = 0x5eed_cafeL;

    @Test
    void aBurstAcrossASecondBoundaryIsHeldToTheRate() {
        ClientLimiter limiter = new ClientLimiter(0, 5);
        long t = 100 * S + 900_000_000L; // 0.9 s into second 100
        for (int i = 0; i < 5; i++) {
            assertTrue(limiter.tryAcquire(CLIENT, t + i), "connection " + (i + 1) + " of 5");
        }
        assertFalse(limiter.tryAcquire(CLIENT, t + 10), "the sixth within the same second");
        // 0.05 s into the next second the six attempts of second 100 weigh 6 × 0.95 = 5.7 (5), plus this one: 6
        assertFalse(limiter.tryAcquire(CLIENT, 101 * S + 50_000_000L),
                "a fixed window restarting at the boundary would have admitted five more here");
        // 0.9 s into it they weigh 6 × 0.1 = 0.6 (0), and the refused attempt above counts: four more fit, not five
        long later = 101 * S + 900_000_000L;
        int admitted = 0;
        for (int i = 0; i < 10; i++) {
            if (limiter.tryAcquire(CLIENT, later + i)) {
                admitted++;
            }
        }
        assertEquals(4, admitted, "admitted 0.9 s into the next second");
    }

    @Test
    void aClientAtExactlyTheRateIsNeverRefused() {
        ClientLimiter limiter = new ClientLimiter(0, 5);
        long t = 7 * S + 123_456_789L;
        for (int i = 0; i < 50; i++) { // ten seconds, one connection every 200 ms
            assertTrue(limiter.tryAcquire(CLIENT, t + i * (S / 5)), "connection " + i + " at 5/s");
        }
    }

    @Test
    void theBudgetComesBackAfterAQuietSecondAndOtherClientsAreNotCharged() {
        ClientLimiter limiter = new ClientLimiter(0, 3);
        long t = 42 * S;
        for (int i = 0; i < 20; i++) {
            limiter.tryAcquire(CLIENT, t + i); // hammering: every attempt counts, admitted or not
        }
        assertFalse(limiter.tryAcquire(CLIENT, t + S / 2));
        assertTrue(limiter.tryAcquire(CLIENT + 1, t + S / 2), "another address has its own budget");
        long quiet = t + 2 * S + 1; // the whole previous second had nothing
        for (int i = 0; i < 3; i++) {
            assertTrue(limiter.tryAcquire(CLIENT, quiet + i), "after a quiet second, " + (i + 1) + " of 3");
        }
        assertFalse(limiter.tryAcquire(CLIENT, quiet + 3));
    }

    @Test
    void aRateTheCountsCannotHoldIsRefusedAtStart() {
        ConfigException e = assertThrows(ConfigException.class, () -> Settings.from(io.nioproxy.testing.Props.of(
                "proxy.backends", "127.0.0.1:9", "proxy.client.rate", "2000000")).build());
        assertTrue(e.getMessage().contains("proxy.client.rate") && e.getMessage().contains("1000000"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ClientLimiter(0, 2_000_000));
    }
}
