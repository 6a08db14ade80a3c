package io.nioproxy.relay;

import io.nioproxy.balance.Hashing;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Per-client-address limits of one listener — concurrent sessions and new connections per second — shared by the
 * loops without locks. A count-min sketch: each client address hashes to two slots of fixed arrays, both are
 * counted, and the smaller count is the client's. Memory is fixed whatever the number of clients; two addresses that
 * collide in both slots (about one pair in 4 billion per table) share a budget, which can only make the limit
 * stricter, never looser.
 *
 * <p>Threading: any loop; atomics only, once per session (never per byte).
 */
public final class ClientLimiter {
    static final int SLOTS = 1 << 16;
    private final int maxConcurrent;
    private final int maxPerSecond;
    private final AtomicIntegerArray concurrent = new AtomicIntegerArray(SLOTS);
    /** Per slot: (second << 32) | connections in that second. */
    private final AtomicLongArray rate = new AtomicLongArray(SLOTS);

    public ClientLimiter(int maxConcurrent, int maxPerSecond) {
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
            long second = nowNanos / 1_000_000_000L;
            int ra = bumpRate(a, second);
            int rb = a == b ? ra : bumpRate(b, second);
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

    private int bumpRate(int slot, long second) {
        while (true) {
            long v = rate.get(slot);
            long next = (v >>> 32) == second ? v + 1 : (second << 32) | 1;
            if (rate.compareAndSet(slot, v, next)) {
                return (int) next;
            }
        }
    }
}
