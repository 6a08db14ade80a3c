package io.nioproxy.rebalance;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The choice of who moves, over thousands of random backend sets and client placements: only re-owned clients move
 * (hash policies), each once, to its owner; nothing goes out of rotation or over maxconn; the plan stops as soon as
 * the spread is within the tolerance (the last move was needed) and goes on while it can lower it; the cap holds.
 */
class MoveSelectorTest {
    @Test
    void aNewEmptyBackendTakesTheReOwnedClientsUntilTheSpreadIsWithinTolerance() {
        // two backends with 30 clients each; a third joins and owns every third client of each
        List<MoveSelector.Candidate> c = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            int from = i % 2;
            int owner = i % 3 == 0 ? 2 : from;
            c.add(new MoveSelector.Candidate("10.0.0." + i, from, 1, -1000 - i, owner));
        }
        MoveSelector.Backends b = new MoveSelector.Backends(new int[] {30, 30, 0}, new int[] {1, 1, 1},
                new boolean[] {true, true, true}, 0);
        List<MoveSelector.Move> moves = MoveSelector.plan(b, c, 1.2, 1000);
        assertTrue(moves.stream().allMatch(m -> m.to() == 2), "every move goes to the new backend");
        int[] load = apply(b.active(), moves);
        assertTrue(MoveSelector.spread(load, b.weight(), b.inRotation()) <= 1.2 + 1e-9, "spread " + load[0] + "/" + load[1] + "/" + load[2]);
        assertEquals(moves.size(), moves.stream().map(MoveSelector.Move::client).distinct().count());
        // 20 clients are re-owned; 1.2 allows the most loaded at 24 when the mean is 20: 6 from each old one
        assertEquals(12, moves.size(), "no more than needed: " + moves);
        List<Long> starts = new ArrayList<>();
        Map<String, Long> start = c.stream().collect(Collectors.toMap(MoveSelector.Candidate::client,
                MoveSelector.Candidate::startedNanos));
        moves.stream().filter(m -> m.from() == 0).forEach(m -> starts.add(start.get(m.client())));
        assertEquals(starts.stream().sorted(Comparator.reverseOrder()).toList(), starts,
                "the youngest clients (latest start) first");
    }

    @Test
    void randomSetsObeyEveryRule() {
        SplittableRandom r = new SplittableRandom(17);
        int nonEmpty = 0;
        for (int round = 0; round < 3000; round++) {
            int n = 2 + r.nextInt(7);
            int[] weight = new int[n];
            boolean[] rot = new boolean[n];
            for (int i = 0; i < n; i++) {
                weight[i] = 1 + r.nextInt(3);
                rot[i] = r.nextInt(6) != 0;
            }
            rot[0] = true;
            int maxConn = r.nextInt(3) == 0 ? 20 + r.nextInt(40) : 0;
            boolean hash = r.nextBoolean();
            int[] active = new int[n];
            List<MoveSelector.Candidate> cands = new ArrayList<>();
            int clients = r.nextInt(150);
            for (int k = 0; k < clients; k++) {
                int from = r.nextInt(n);
                if (r.nextInt(3) != 0) {
                    from = r.nextInt(Math.max(1, n / 2)); // skewed toward the first backends
                }
                int sessions = hash ? 1 + (r.nextInt(4) == 0 ? r.nextInt(3) : 0) : 1;
                active[from] += sessions;
                int target = hash ? (r.nextInt(3) == 0 ? r.nextInt(n) : from) : -1;
                if (hash && target == from) {
                    continue; // owned where it is: not a candidate (the rebalancer never offers it)
                }
                cands.add(new MoveSelector.Candidate("c" + k, from, sessions, r.nextInt(100_000), target));
            }
            double tol = 1.0 + r.nextInt(60) / 100.0;
            int total = 0;
            for (int a : active) {
                total += a;
            }
            int budget = 1 + r.nextInt(Math.max(1, total));
            MoveSelector.Backends b = new MoveSelector.Backends(active, weight, rot, maxConn);
            List<MoveSelector.Move> moves = MoveSelector.plan(b, cands, tol, budget);
            if (!moves.isEmpty()) {
                nonEmpty++;
            }
            Map<String, MoveSelector.Candidate> byClient = cands.stream().collect(Collectors.toMap(
                    MoveSelector.Candidate::client, Function.identity()));
            Set<String> seen = new HashSet<>();
            int[] load = active.clone();
            int moved = 0;
            for (int i = 0; i < moves.size(); i++) {
                MoveSelector.Move m = moves.get(i);
                MoveSelector.Candidate c = byClient.get(m.client());
                assertTrue(c != null && seen.add(m.client()), "a candidate, once: " + m);
                assertEquals(c.from(), m.from());
                assertEquals(c.sessions(), m.sessions(), "all of its sessions together");
                if (hash) {
                    assertEquals(c.target(), m.to(), "to its owner");
                }
                assertTrue(rot[m.to()], "never out of rotation");
                assertTrue(MoveSelector.spread(load, weight, rot) > tol + 1e-9, "a move made while already within tolerance");
                load[m.from()] -= m.sessions();
                load[m.to()] += m.sessions();
                moved += m.sessions();
                assertTrue(maxConn == 0 || load[m.to()] <= maxConn, "over maxconn");
            }
            assertTrue(moved <= budget, "the cap");
            // done: within tolerance, or out of budget, or nothing left that could lower the peak
            if (MoveSelector.spread(load, weight, rot) > tol + 1e-9 && moved < budget) {
                List<MoveSelector.Candidate> rest = new ArrayList<>();
                for (MoveSelector.Candidate c : cands) {
                    if (!seen.contains(c.client())) {
                        rest.add(c);
                    }
                }
                List<MoveSelector.Move> more = MoveSelector.plan(new MoveSelector.Backends(load, weight, rot, maxConn),
                        rest, tol, budget - moved);
                assertTrue(more.isEmpty(), "stopped while a move could still lower the spread: " + more);
            }
        }
        assertTrue(nonEmpty > 500, "the random sets exercised plans: " + nonEmpty);
    }

    private static int[] apply(int[] active, List<MoveSelector.Move> moves) {
        int[] load = active.clone();
        for (MoveSelector.Move m : moves) {
            load[m.from()] -= m.sessions();
            load[m.to()] += m.sessions();
        }
        return load;
    }
}
