package io.nioproxy.balance;

import java.util.ArrayList;
import java.util.List;

import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Client address → backend, remembered for a while so that a client keeps its backend when the set of backends
 * changes (a new backend would otherwise take about 1/N of the clients' next connections — in the middle of a
 * socket.io long-polling session that breaks the session).
 *
 * <h2>How the loops share it without locks</h2>
 * An open-addressing table of {@link AtomicReferenceArray} slots holding immutable {@link Entry} objects (key and
 * backend), each with a volatile last-seen time. A lookup probes at most {@value #PROBES} slots with plain volatile
 * reads. Refreshing an entry is one volatile write of its time. A new client's entry is placed with one CAS into the
 * first empty or expired slot of its probe window, or else over the least recently seen entry there, so the table
 * never grows past its capacity and never needs a sweeper: expired entries are simply overwritten. Two loops racing
 * for one slot: one CAS wins, the other client is remembered at its next connection — affinity is a best effort
 * bounded in memory, never a correctness condition of the relay.
 *
 * <p>Threading: any thread; lock-free.
 */
public final class AffinityTable {
    static final int PROBES = 8;

    /** One remembered client. Immutable but for the time it was last seen. */
    static final class Entry {
        final long key;
        final Backend backend;
        volatile long lastSeenNanos;

        Entry(long key, Backend backend, long now) {
            this.key = key;
            this.backend = backend;
            this.lastSeenNanos = now;
        }
    }

    private final AtomicReferenceArray<Entry> slots;
    private final int mask;
    private final long ttlNanos;

    /**
     * @param maxEntries clients remembered at most (the table holds twice as many slots, a power of two)
     * @param ttlNanos   an entry not refreshed for this long is forgotten
     */
    public AffinityTable(int maxEntries, long ttlNanos) {
        int cap = Integer.highestOneBit(Math.max(16, maxEntries * 2 - 1)) << 1;
        this.slots = new AtomicReferenceArray<>(cap);
        this.mask = cap - 1;
        this.ttlNanos = ttlNanos;
    }

    private int home(long key) {
        return (int) (Hashing.mix(key ^ 0x61666669L) & mask);
    }

    /** @return the remembered backend of a client, or null when none is remembered (or it expired). */
    public Backend lookup(long key, long nowNanos) {
        int i = home(key);
        for (int p = 0; p < PROBES; p++) {
            Entry e = slots.get((i + p) & mask);
            if (e != null && e.key == key) {
                return nowNanos - e.lastSeenNanos < ttlNanos ? e.backend : null;
            }
        }
        return null;
    }

    /** Remembers (or refreshes) that the client reached {@code backend} now. */
    public void record(long key, Backend backend, long nowNanos) {
        int i = home(key);
        int victim = i;
        long best = Long.MAX_VALUE;
        for (int p = 0; p < PROBES; p++) {
            int s = (i + p) & mask;
            Entry e = slots.get(s);
            if (e != null && e.key == key) {
                if (e.backend == backend) {
                    e.lastSeenNanos = nowNanos; // the common case: one volatile write, no allocation
                } else {
                    slots.compareAndSet(s, e, new Entry(key, backend, nowNanos));
                }
                return;
            }
            // Victim preference: an empty slot, then an expired entry, then the least recently seen.
            long score = e == null ? Long.MIN_VALUE
                    : nowNanos - e.lastSeenNanos >= ttlNanos ? Long.MIN_VALUE + 1 : e.lastSeenNanos;
            if (score < best) {
                best = score;
                victim = s;
            }
        }
        slots.compareAndSet(victim, slots.get(victim), new Entry(key, backend, nowNanos));
    }

    /** Forgets every client of {@code backend} (it was removed). Control threads. */
    public void forget(Backend backend) {
        for (int s = 0; s <= mask; s++) {
            Entry e = slots.get(s);
            if (e != null && e.backend == backend) {
                slots.compareAndSet(s, e, null);
            }
        }
    }

    /**
     * Every live entry as {@code key backend-identity age-millis} lines, for a take-over to carry to the next process.
     * O(capacity); control threads.
     */
    public List<String> export(long nowNanos) {
        List<String> lines = new ArrayList<>();
        for (int s = 0; s <= mask; s++) {
            Entry e = slots.get(s);
            if (e != null && nowNanos - e.lastSeenNanos < ttlNanos && !e.backend.removed()) {
                lines.add(e.key + " " + e.backend.identity() + " " + (nowNanos - e.lastSeenNanos) / 1_000_000);
            }
        }
        return lines;
    }

    /**
     * Takes one line of {@link #export} from the previous process: remembered as seen that long ago, on this
     * process's backend of that identity. False (and nothing remembered) when the line is malformed or the backend is
     * not one of {@code backends} any more.
     */
    public boolean importLine(String line, java.util.function.Function<String, Backend> backends, long nowNanos) {
        String[] f = line.split(" ");
        if (f.length != 3) {
            return false;
        }
        Backend b = backends.apply(f[1]);
        if (b == null || b.removed()) {
            return false;
        }
        try {
            long age = Long.parseLong(f[2]) * 1_000_000;
            if (age < 0 || age >= ttlNanos) {
                return false;
            }
            record(Long.parseLong(f[0]), b, nowNanos - age);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** Live (unexpired) entries; O(capacity), for the admin API and tests. */
    public int size(long nowNanos) {
        int n = 0;
        for (int s = 0; s <= mask; s++) {
            Entry e = slots.get(s);
            if (e != null && nowNanos - e.lastSeenNanos < ttlNanos) {
                n++;
            }
        }
        return n;
    }

    public int capacity() {
        return mask + 1;
    }
}
