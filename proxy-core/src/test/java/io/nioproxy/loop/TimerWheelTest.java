package io.nioproxy.loop;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The wheel against a naive model: a map of deadlines, scanned in full at every poll. */
class TimerWheelTest {
    private static final class Probe extends LoopTimer {
        final int id;
        long firedAt = -1;
        int fires;

        Probe(int id) {
            this.id = id;
        }

        @Override
        protected void onDeadline(long nowNanos) {
            firedAt = nowNanos;
            fires++;
        }
    }

    @Test
    void firesEveryTimerOnceAtTheFirstPollAtOrAfterItsDeadlineAsAMapOfDeadlinesWould() {
        for (long seed = 1; seed <= 20; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            long now = 5_000_000_000L + random.nextLong(1_000_000_000L);
            TimerWheel wheel = new TimerWheel(now);
            List<Probe> probes = new ArrayList<>();
            Map<Probe, Long> model = new HashMap<>();
            for (int i = 0; i < 400; i++) {
                probes.add(new Probe(i));
            }
            for (int step = 0; step < 3000; step++) {
                Probe p = probes.get(random.nextInt(probes.size()));
                switch (random.nextInt(4)) {
                    case 0, 1 -> { // schedule or move: from already due to several turns of the wheel ahead
                        long d = now + random.nextLong(-2_000_000L, 4_000_000_000L);
                        wheel.schedule(p, d);
                        model.put(p, d);
                        p.firedAt = -1;
                    }
                    case 2 -> {
                        wheel.cancel(p);
                        model.remove(p);
                    }
                    default -> {
                        long earliest = model.values().stream().mapToLong(Long::longValue).min().orElse(Long.MAX_VALUE);
                        assertTrue(wheel.nextDeadlineNanos() <= earliest,
                                "the hint is never later than the earliest deadline (seed " + seed + ")");
                        now += random.nextLong(0, 50_000_000L);
                        Map<Probe, Long> due = new HashMap<>();
                        for (var e : model.entrySet()) {
                            if (e.getValue() <= now) {
                                due.put(e.getKey(), e.getValue());
                            }
                        }
                        Map<Probe, Integer> before = new HashMap<>();
                        for (Probe q : probes) {
                            before.put(q, q.fires);
                        }
                        int fired = wheel.poll(now);
                        assertEquals(due.size(), fired, "seed " + seed + " step " + step);
                        for (Probe q : probes) {
                            boolean shouldFire = due.containsKey(q);
                            assertEquals(before.get(q) + (shouldFire ? 1 : 0), q.fires, "timer " + q.id);
                            if (shouldFire) {
                                assertEquals(now, q.firedAt);
                                assertFalse(q.scheduled());
                                model.remove(q);
                            }
                        }
                        assertEquals(model.size(), wheel.size());
                    }
                }
            }
        }
    }

    @Test
    void aTimerCancelledOrMovedByOneFiringBeforeItInTheSamePollDoesNotFire() {
        TimerWheel wheel = new TimerWheel(0);
        Probe victim = new Probe(1);
        Probe moved = new Probe(2);
        LoopTimer killer = new LoopTimer() {
            @Override
            protected void onDeadline(long nowNanos) {
                wheel.cancel(victim);
                wheel.schedule(moved, nowNanos + 10_000_000L);
            }
        };
        // all three due at the same poll; timers of one slot fire in the order they were scheduled: the killer first
        wheel.schedule(killer, 1_000);
        wheel.schedule(victim, 1_000);
        wheel.schedule(moved, 1_000);
        wheel.poll(2_000_000);
        assertEquals(0, victim.fires, "cancelled before its turn in the same poll");
        assertEquals(0, moved.fires, "moved before its turn in the same poll");
        assertTrue(moved.scheduled());
        wheel.poll(13_000_000);
        assertEquals(1, moved.fires);
        assertEquals(0, wheel.size());
    }
}
