package io.nioproxy.rebalance;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Chooses the clients to move so that the spread of sessions over the backends — the most loaded backend's sessions
 * per unit of weight over the mean — falls to the tolerance, and no further.
 *
 * <p>Greedy, one move at a time, always from the most loaded backend: a move is taken only if it lowers that
 * backend's load without making its target the new most loaded one (so nothing ping-pongs), and the plan stops as
 * soon as the spread is within the tolerance, the cap of sessions per event is reached, or the most loaded backend
 * has no candidate left. Each client moves at most once per plan, with all its sessions.
 *
 * <p>A candidate is a group of sessions with the backend it would move to ({@code target}): for the hash policies the
 * client's owner in the current table (where its reconnect will land once its affinity entry points there); for the
 * others the backend that would take its reconnect, chosen here as the least loaded one that can receive it.
 * Among the candidates of the most loaded backend, the most recent client goes first: it has the least state built
 * up on its server and is the cheapest to re-establish, and the oldest sessions — the ones that stayed through
 * everything — are disturbed last.
 *
 * <p>Threading: stateless; any thread.
 */
public final class MoveSelector {
    private MoveSelector() {
    }

    /**
     * A client's sessions on one backend.
     *
     * @param client    the client's address (the unit that moves)
     * @param from      index of the backend its sessions are on
     * @param sessions  how many
     * @param startedNanos when its youngest session opened, on {@link System#nanoTime()}'s clock (later moves
     *                  first; a start, not an age, so a dry run and the run that follows order clients alike)
     * @param target    for the hash policies, the index of its owner in the current table; -1 for "the least loaded"
     */
    public record Candidate(String client, int from, int sessions, long startedNanos, int target) {
    }

    /** One planned move: all of {@code client}'s sessions from backend {@code from} to backend {@code to}. */
    public record Move(String client, int from, int to, int sessions) {
    }

    /**
     * The backends as the plan sees them.
     *
     * @param active     sessions per backend now
     * @param weight     weight per backend (at least 1)
     * @param inRotation takes part in the spread (up, draining excluded) — moves go only to these
     * @param maxConn    sessions a backend may hold (0: no limit): a move never pushes a target over it
     */
    public record Backends(int[] active, int[] weight, boolean[] inRotation, int maxConn) {
    }

    /** Max over mean of sessions per unit of weight, over the backends in rotation; 1.0 when there is nothing. */
    public static double spread(int[] active, int[] weight, boolean[] inRotation) {
        long sum = 0;
        long weights = 0;
        double max = 0;
        for (int i = 0; i < active.length; i++) {
            if (inRotation[i]) {
                sum += active[i];
                weights += weight[i];
                max = Math.max(max, (double) active[i] / weight[i]);
            }
        }
        if (sum == 0 || weights == 0) {
            return 1.0;
        }
        return max / ((double) sum / weights);
    }

    /**
     * @param backends     the backends now
     * @param candidates   every client that could move (a client twice is taken once)
     * @param tolerance    the spread to reach (at least 1)
     * @param maxSessions  most sessions moved by this plan
     * @return the moves, in the order to make them
     */
    public static List<Move> plan(Backends backends, List<Candidate> candidates, double tolerance, int maxSessions) {
        int n = backends.active().length;
        int[] load = backends.active().clone();
        int[] w = backends.weight();
        boolean[] rot = backends.inRotation();
        List<List<Candidate>> byBackend = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byBackend.add(new ArrayList<>());
        }
        for (Candidate c : candidates) {
            if (c.from() >= 0 && c.from() < n && c.sessions() > 0 && c.target() != c.from()) {
                byBackend.get(c.from()).add(c);
            }
        }
        Comparator<Candidate> youngestFirst = Comparator.comparingLong(Candidate::startedNanos).reversed()
                .thenComparing(Candidate::client);
        for (List<Candidate> l : byBackend) {
            l.sort(youngestFirst);
        }
        java.util.Set<String> moved = new java.util.HashSet<>();
        List<Move> moves = new ArrayList<>();
        int budget = maxSessions;
        while (spread(load, w, rot) > tolerance + 1e-9 && budget > 0) {
            int m = mostLoaded(load, w, rot);
            if (m < 0) {
                break;
            }
            Move next = null;
            for (java.util.Iterator<Candidate> it = byBackend.get(m).iterator(); it.hasNext(); ) {
                Candidate c = it.next();
                if (moved.contains(c.client()) || c.sessions() > budget) {
                    continue;
                }
                int to = c.target() >= 0 ? c.target() : leastLoaded(load, w, rot, m);
                if (to < 0 || to == m || !rot[to] || !fits(backends, load, to, c.sessions())) {
                    continue;
                }
                // the target must stay below where the source was: otherwise the move only shifts the peak
                if ((double) (load[to] + c.sessions()) / w[to] >= (double) load[m] / w[m]) {
                    continue;
                }
                it.remove();
                next = new Move(c.client(), m, to, c.sessions());
                break;
            }
            if (next == null) {
                break; // the most loaded backend has nothing that can move: the spread cannot fall further
            }
            moved.add(next.client());
            load[next.from()] -= next.sessions();
            load[next.to()] += next.sessions();
            budget -= next.sessions();
            moves.add(next);
        }
        return moves;
    }

    private static boolean fits(Backends b, int[] load, int to, int sessions) {
        return b.maxConn() == 0 || load[to] + sessions <= b.maxConn();
    }

    private static int mostLoaded(int[] load, int[] w, boolean[] rot) {
        int best = -1;
        for (int i = 0; i < load.length; i++) {
            if (rot[i] && (best < 0 || (long) load[i] * w[best] > (long) load[best] * w[i])) {
                best = i;
            }
        }
        return best;
    }

    private static int leastLoaded(int[] load, int[] w, boolean[] rot, int except) {
        int best = -1;
        for (int i = 0; i < load.length; i++) {
            if (rot[i] && i != except && (best < 0 || (long) load[i] * w[best] < (long) load[best] * w[i])) {
                best = i;
            }
        }
        return best;
    }
}
