package io.nioproxy.balance;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Picks the backend for a client connection under one listener's {@link BalancePolicy}, and the next one to try
 * when a connect fails.
 *
 * <p>Threading: {@link #pick} is called by every event loop, once per connect attempt (never per event), and takes
 * no lock: it reads the current {@link BackendSet} snapshot once. {@link #update} may be called from any thread;
 * sessions already open are not touched by it.
 *
 * <p>Retry order for the hash policies: attempt 0 uses the client's Maglev slot; attempt k rehashes the key with k
 * and skips backends already tried, so the preference order is also a pure function of the client key and the
 * backend set — every instance retries in the same order.
 */
public final class Balancer {
    /** Rehashes per attempt before falling back to a scan; each lands on an untried backend with p ≥ 1 - tried/n. */
    private static final int REHASHES = 16;
    private static final Backend[] NONE = new Backend[0];

    private final BalancePolicy policy;
    private final AffinityTable affinity;
    private final AtomicLong roundRobinCursor = new AtomicLong();
    private volatile BackendSet set;
    /** Sessions per backend at once (0: no limit): a full backend is skipped like one already tried. */
    private volatile int backendMaxConn;
    /** Slow start window (0: off): a backend that joined takes a share of new clients growing over it. */
    private volatile long slowStartNanos;

    public Balancer(BalancePolicy policy, List<Backend> backends) {
        this(policy, backends, null);
    }

    /** @param affinity remembered client → backend (source-ip only); null for none */
    public Balancer(BalancePolicy policy, List<Backend> backends, AffinityTable affinity) {
        this.policy = policy;
        this.affinity = policy == BalancePolicy.SOURCE_IP ? affinity : null;
        this.set = new BackendSet(backends);
    }

    public BalancePolicy policy() {
        return policy;
    }

    public void backendMaxConn(int max) {
        this.backendMaxConn = max;
    }

    /**
     * Slow start (HAProxy's {@code slowstart}, Envoy's {@code slow_start_config}): for {@code least-conn} and
     * {@code round-robin}, a backend that joined the rotation while running counts with a weight that grows from 5% to
     * all of it over the window. The hash policies are left alone, as in HAProxy: ramping a consistent-hash table would
     * move clients twice; there the rebalance's pace is the throttle.
     */
    public void slowStart(long windowNanos) {
        this.slowStartNanos = windowNanos;
    }

    /** The share (0.05..1) of its weight {@code b} has now. */
    double ramp(Backend b, long nowNanos) {
        long window = slowStartNanos;
        long joined = b.joinedNanos();
        if (window == 0 || joined == Long.MIN_VALUE || nowNanos == 0) {
            return 1.0;
        }
        long elapsed = nowNanos - joined;
        return elapsed >= window ? 1.0 : Math.max(0.05, (double) elapsed / window);
    }

    public BackendSet backends() {
        return set;
    }

    /**
     * Hash policies: where a new client with this hash goes when no affinity entry decides and nothing was tried
     * yet. Null when no backend can take it.
     */
    public Backend hashOwner(long clientHash) {
        BackendSet s = set;
        return s.size() == 0 ? null : hashChoice(s, clientHash, NONE, 0);
    }

    /**
     * The client's first usable backend in its preference order: its Maglev slot, then rehash {@code k} for
     * attempt {@code k}, then a scan — a pure function of the client key and the members.
     */
    private Backend hashChoice(BackendSet s, long clientHash, Backend[] tried, int triedCount) {
        MaglevTable t = s.maglev();
        long key = clientHash;
        for (int k = 0; k <= REHASHES; k++) {
            if (k > 0) {
                key = Hashing.mix(clientHash + k * 0x9e3779b97f4a7c15L);
            }
            Backend b = s.get(t.lookup(key));
            if (usable(b, tried, triedCount) && hasRoom(b)) {
                return b;
            }
        }
        return firstUntried(s, (int) Long.remainderUnsigned(clientHash, s.size()), tried, triedCount);
    }

    /**
     * Publishes a new set of backends; new connections use it at once. For the hash policies these are the members
     * (down ones too: {@link #pick} skips a backend not in rotation for the client's next choice), for the others the
     * backends in rotation.
     */
    public void update(List<Backend> backends) {
        this.set = new BackendSet(backends);
    }

    /**
     * @param clientHash from {@link Hashing#clientHash} (ignored by the non-hash policies)
     * @param tried      backends already tried for this client (first {@code triedCount} entries)
     * @return a backend not yet tried, or null when none is left (or none is in rotation)
     */
    public Backend pick(long clientHash, Backend[] tried, int triedCount) {
        return pick(clientHash, tried, triedCount, 0);
    }

    /**
     * As {@link #pick(long, Backend[], int)}, consulting the affinity table first: a client remembered on a
     * backend still in rotation goes back to it, whatever the hash table says now.
     */
    public Backend pick(long clientHash, Backend[] tried, int triedCount, long nowNanos) {
        if (affinity != null && triedCount == 0) {
            Backend remembered = affinity.lookup(clientHash, nowNanos);
            if (remembered != null && remembered.inRotation() && hasRoom(remembered)) {
                return remembered;
            }
        }
        BackendSet s = set;
        int n = s.size();
        if (n == 0 || triedCount >= n) {
            return null;
        }
        switch (policy) {
            case SOURCE_IP, SOURCE_IP_PORT -> {
                return hashChoice(s, clientHash, tried, triedCount);
            }
            case ROUND_ROBIN -> {
                int[] seq = s.roundRobin();
                long c = roundRobinCursor.getAndIncrement();
                Backend b = s.get(seq[(int) Long.remainderUnsigned(c, seq.length)]);
                // a backend in slow start takes its turn with the probability of its ramp, else the next one does
                for (int k = 1; k < seq.length && slowStartNanos != 0
                        && ramp(b, nowNanos) < java.util.concurrent.ThreadLocalRandom.current().nextDouble(); k++) {
                    b = s.get(seq[(int) Long.remainderUnsigned(c + k, seq.length)]);
                }
                return usable(b, tried, triedCount) && hasRoom(b) ? b
                        : firstUntried(s, (int) Long.remainderUnsigned(c, n), tried, triedCount);
            }
            case LEAST_CONN -> {
                // Fewest active per unit of weight: compare a/wa < b/wb as a*wb < b*wa. Start the scan at a rotating
                // index so that ties spread instead of all landing on the first backend.
                int start = (int) Long.remainderUnsigned(roundRobinCursor.getAndIncrement(), n);
                Backend best = null;
                long bestActive = 0;
                double bestScore = 0;
                boolean ramping = slowStartNanos != 0;
                for (int j = 0; j < n; j++) {
                    Backend b = s.get((start + j) % n);
                    if (!usable(b, tried, triedCount) || !hasRoom(b)) {
                        continue;
                    }
                    long a = b.active();
                    if (ramping) {
                        // with slow start: (sessions + 1) per unit of the weight it has now, so that a backend
                        // that just joined fills at the pace of its ramp instead of taking every new client
                        double score = (a + 1) / (b.weight() * ramp(b, nowNanos));
                        if (best == null || score < bestScore) {
                            best = b;
                            bestScore = score;
                        }
                    } else if (best == null || a * best.weight() < bestActive * b.weight()) {
                        best = b;
                        bestActive = a;
                    }
                }
                return best;
            }
            default -> throw new IllegalStateException(policy.name());
        }
    }

    /** Loop thread: the client's connect to {@code backend} succeeded — remember (or refresh) the pairing. */
    public void connected(long clientHash, Backend backend, long nowNanos) {
        if (affinity != null) {
            affinity.record(clientHash, backend, nowNanos);
        }
    }

    public AffinityTable affinity() {
        return affinity;
    }

    private Backend firstUntried(BackendSet s, int start, Backend[] tried, int triedCount) {
        int n = s.size();
        for (int j = 0; j < n; j++) {
            Backend b = s.get((start + j) % n);
            if (usable(b, tried, triedCount) && hasRoom(b)) {
                return b;
            }
        }
        return null;
    }

    /** Below its maxconn (a full backend spills to the client's next choice, as HAProxy's maxconn does). */
    private boolean hasRoom(Backend b) {
        int max = backendMaxConn;
        return max == 0 || b.active() < max;
    }

    /**
     * Not tried yet, and still in rotation: the snapshot is replaced a moment after a backend's state changes, and
     * in that moment the state (one volatile read) is the truth.
     */
    private static boolean usable(Backend b, Backend[] tried, int count) {
        return b.inRotation() && !contains(tried, count, b);
    }

    private static boolean contains(Backend[] tried, int count, Backend b) {
        for (int i = 0; i < count; i++) {
            if (tried[i] == b) {
                return true;
            }
        }
        return false;
    }
}
