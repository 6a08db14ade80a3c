package io.nioproxy.balance;

import java.util.Arrays;

/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4): a lookup table of prime size whose slots are
 * shared out among the backends by each backend's own permutation of the slots. Removing a backend changes only
 * (about) the slots it held; every other client keeps its backend.
 *
 * <p>Determinism: permutations come from {@link Hashing} over each backend's identity (address and port as written),
 * and the fill visits backends sorted by identity, so the table depends on the <em>set</em> of backends and their
 * weights, never on the order of a list. Two instances given the same backends build equal tables.
 *
 * <p>Weights: a backend of weight w takes w/maxWeight of a turn per round (credits carried over), so slot shares
 * follow the weights.
 *
 * <p>Immutable once built; lookups from any thread without synchronisation.
 */
public final class MaglevTable {
    /** Prime, and over 100 times the number of backends up to ~650, which keeps the spread within a few percent. */
    public static final int DEFAULT_SIZE = 65537;
    private static final long SEED_OFFSET = 0x6d61676c65764f46L; // "maglevOF"
    private static final long SEED_SKIP = 0x6d61676c65765350L;   // "maglevSP"

    private final int[] slots;

    private MaglevTable(int[] slots) {
        this.slots = slots;
    }

    /**
     * @param identities backend identities, <em>sorted</em> (index i of the result refers to identities[i])
     * @param weights    matching weights, each &ge; 1
     * @param size       a prime greater than the number of backends
     */
    public static MaglevTable build(String[] identities, int[] weights, int size) {
        int n = identities.length;
        if (n == 0) {
            throw new IllegalArgumentException("no backends");
        }
        if (size <= n) {
            throw new IllegalArgumentException("table size " + size + " must exceed backend count " + n);
        }
        for (int i = 1; i < n; i++) {
            if (identities[i - 1].compareTo(identities[i]) >= 0) {
                throw new IllegalArgumentException("identities must be sorted and distinct");
            }
        }
        long[] position = new long[n];
        long[] skip = new long[n];
        int maxWeight = 0;
        for (int i = 0; i < n; i++) {
            position[i] = Long.remainderUnsigned(Hashing.hash(identities[i], SEED_OFFSET), size);
            skip[i] = Long.remainderUnsigned(Hashing.hash(identities[i], SEED_SKIP), size - 1) + 1;
            maxWeight = Math.max(maxWeight, weights[i]);
        }
        int[] slots = new int[size];
        Arrays.fill(slots, -1);
        long[] credit = new long[n];
        int filled = 0;
        while (true) {
            for (int i = 0; i < n; i++) {
                credit[i] += weights[i];
                while (credit[i] >= maxWeight) {
                    credit[i] -= maxWeight;
                    long c = position[i];
                    while (slots[(int) c] >= 0) {
                        c += skip[i];
                        if (c >= size) {
                            c -= size;
                        }
                    }
                    slots[(int) c] = i;
                    c += skip[i];
                    position[i] = c >= size ? c - size : c;
                    if (++filled == size) {
                        return new MaglevTable(slots);
                    }
                }
            }
        }
    }

    public static MaglevTable build(String[] identities, int[] weights) {
        return build(identities, weights, DEFAULT_SIZE);
    }

    /** @return the backend index for a 64-bit key hash. */
    public int lookup(long hash) {
        return slots[(int) Long.remainderUnsigned(hash, slots.length)];
    }

    public int size() {
        return slots.length;
    }

    /** Slot count per backend index (for tests, the spread report and docs). */
    public int[] slotCounts(int backends) {
        int[] counts = new int[backends];
        for (int s : slots) {
            counts[s]++;
        }
        return counts;
    }
}
