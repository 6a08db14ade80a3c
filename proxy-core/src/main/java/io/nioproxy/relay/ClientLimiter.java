package io.nioproxy.relay;

import io.nioproxy.balance.Hashing;
import io.nioproxy.config.Settings;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Per-client-address limits of one listener — concurrent sessions and new connections per second — shared by the
 * loops without locks. A count-min sketch: each client address hashes to two slots of fixed arrays, both are
 * counted, and the smaller count is the client's. Memory is fixed whatever the number of clients; two addresses that
 * collide in both slots (about one pair in 4 billion per table) share a budget, which can only make the limit
 * stricter, never looser.
 *
 * <p>The rate is a sliding estimate, as HAProxy's rate counters keep it: connections in the current second, plus the
 * previous second's weighted by how much of it the last second still covers ({@code prev × (1 − elapsed)}). A fixed
 * per-second window would let a client open twice the rate across a second boundary; this one lets a steady client
 * open exactly the rate each second and refuses the burst. Attempts count whether admitted or not, so a client that
 * keeps hammering stays refused. Both seconds' counts and the second they belong to share one {@code long} per slot,
 * updated by one compare-and-set.
 *
 * <p>Threading: any loop; atomics only, once per session (never per byte).
 */
public final class ClientLimiter {
    static final int SLOTS = 1 << 16;
    private final int maxConcurrent;
    private final int maxPerSecond;
    private final AtomicIntegerArray concurrent = new AtomicIntegerArray(SLOTS);
    /** Bits per count in a rate slot: enough for {@link Settings#CLIENT_RATE_MAX} with room to count beyond it. */
    private static final int COUNT_BITS = 20;
    private static final long COUNT_MASK = (1L << COUNT_BITS) - 1;
    private static final long SECOND_MASK = (1L << (64 - 2 * COUNT_BITS)) - 1; // 24 bits: 194 days before it repeats
    private static final long NANOS = 1_000_000_000L;
    /**
     * Per slot: (second &amp; {@link #SECOND_MASK}) &lt;&lt; 40 | previous second's attempts &lt;&lt; 20 | this second's.
     * A slot untouched for exactly 2^24 seconds would read its old counts as current: a stricter limit, once.
     */
    private final AtomicLongArray rate = new AtomicLongArray(SLOTS);

    public ClientLimiter(int maxConcurrent, int maxPerSecond) {
        if (maxPerSecond < 0 || maxPerSecond > Settings.CLIENT_RATE_MAX) {
            throw new IllegalArgumentException("rate " + maxPerSecond + " outside 0.." + Settings.CLIENT_RATE_MAX);
        }
        this.maxConcurrent = maxConcurrent;
        this.maxPerSecond = maxPerSecond;
    }

    public boolean enabled() {
        return maxConcurrent > 0 || maxPerSecond > 0;
    }

    /**
     * Admits one new session of the client with hash {@code key} (its address hash), or refuses it.
     *
     * @return true when admitted; then {@link #release} must be called when the session ends
     */
    public boolean tryAcquire(long key, long nowNanos) {
        int a = (int) (key & (SLOTS - 1));
        int b = (int) (Hashing.mix(key) & (SLOTS - 1));
        if (maxPerSecond > 0) {
            long second = Math.floorDiv(nowNanos, NANOS);
            long left = NANOS - Math.floorMod(nowNanos, NANOS); // of the previous second, still inside the last one
            long ra = bumpRate(a, second, left);
            long rb = a == b ? ra : bumpRate(b, second, left);
            if (Math.min(ra, rb) > maxPerSecond) {
                return false;
            }
        }
        if (maxConcurrent > 0) {
            int ca = concurrent.incrementAndGet(a);
            int cb = a == b ? ca : concurrent.incrementAndGet(b);
            if (Math.min(ca, cb) > maxConcurrent) {
                concurrent.decrementAndGet(a);
                if (a != b) {
                    concurrent.decrementAndGet(b);
                }
                return false;
            }
        }
        return true;
    }

    public void release(long key) {
        if (maxConcurrent > 0) {
            int a = (int) (key & (SLOTS - 1));
            int b = (int) (Hashing.mix(key) & (SLOTS - 1));
            concurrent.decrementAndGet(a);
            if (a != b) {
                concurrent.decrementAndGet(b);
            }
        }
    }

    /** Counts one attempt in {@code slot}; returns the slot's sliding estimate of attempts in the last second. */
    private long bumpRate(int slot, long second, long leftOfPrevious) {
        long now = second & SECOND_MASK;
        long before = (second - 1) & SECOND_MASK;
        while (true) {
            long v = rate.get(slot);
            long at = v >>> (2 * COUNT_BITS);
            long prev;
            long curr;
            if (at == now) {
                prev = (v >>> COUNT_BITS) & COUNT_MASK;
                curr = Math.min((v & COUNT_MASK) + 1, COUNT_MASK);
            } else {
                prev = at == before ? v & COUNT_MASK : 0; // the last count moves back a second, or is too old
                curr = 1;
            }
            if (rate.compareAndSet(slot, v, now << (2 * COUNT_BITS) | prev << COUNT_BITS | curr)) {
                return curr + prev * leftOfPrevious / NANOS;
            }
        }
    }
}
