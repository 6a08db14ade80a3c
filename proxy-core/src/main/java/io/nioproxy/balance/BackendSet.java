package io.nioproxy.balance;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * An immutable snapshot of the backends in rotation for one listener, with the tables built from them: the Maglev
 * table and the smooth weighted round-robin sequence. Published by reference (a volatile field in
 * {@link Balancer}); event loops read it without locks, and a change of backends builds a new one.
 *
 * <p>Backends are held sorted by identity, so indexes mean the same in every instance given the same backends.
 */
public final class BackendSet {
    private final Backend[] backends;
    private final MaglevTable maglev;
    private final int[] roundRobin;

    public BackendSet(List<Backend> inRotation) {
        Backend[] sorted = inRotation.toArray(new Backend[0]);
        Arrays.sort(sorted, Comparator.comparing(Backend::identity));
        this.backends = sorted;
        if (sorted.length == 0) {
            this.maglev = null;
            this.roundRobin = new int[0];
            return;
        }
        String[] ids = new String[sorted.length];
        int[] weights = new int[sorted.length];
        for (int i = 0; i < sorted.length; i++) {
            ids[i] = sorted[i].identity();
            weights[i] = sorted[i].weight();
        }
        this.maglev = MaglevTable.build(ids, weights);
        this.roundRobin = smoothWeightedSequence(weights);
    }

    /**
     * The smooth weighted round-robin order (each turn: add every weight to its current value, pick the largest,
     * subtract the total from it) — interleaves heavy and light backends instead of sending bursts.
     */
    static int[] smoothWeightedSequence(int[] weights) {
        int total = 0;
        for (int w : weights) {
            total += w;
        }
        int[] seq = new int[total];
        int[] current = new int[weights.length];
        for (int s = 0; s < total; s++) {
            int best = 0;
            for (int i = 0; i < weights.length; i++) {
                current[i] += weights[i];
                if (current[i] > current[best]) {
                    best = i;
                }
            }
            current[best] -= total;
            seq[s] = best;
        }
        return seq;
    }

    public int size() {
        return backends.length;
    }

    public Backend get(int index) {
        return backends[index];
    }

    /** Null when no backend is in rotation. */
    public MaglevTable maglev() {
        return maglev;
    }

    int[] roundRobin() {
        return roundRobin;
    }

    public List<Backend> backends() {
        return List.of(backends);
    }
}
