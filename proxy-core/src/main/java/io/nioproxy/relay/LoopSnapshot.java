package io.nioproxy.relay;

import io.nioproxy.balance.Backend;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * What one loop reports when asked (metrics scrape, connection table, dashboard sample): bytes per route and per
 * backend (ended sessions plus live ones), and optionally a row per live session. Built on the loop thread, read
 * by the asker after the hand-back; never shared while built.
 */
public final class LoopSnapshot {
    /**
     * One live session, as the admin API shows it.
     *
     * @param pool         the pool a listener that routes by server name sent it to (null: not routed by name, or
     *                     not yet)
     * @param serverName   the ClientHello's server name (null: none, or not routed by name)
     * @param backendLocal the balancer's own address on the backend connection (null before it exists): with the
     *                     client address, both ends of the session as {@code ss} shows them
     * @param startedNanos when it opened, on {@link System#nanoTime()}'s clock: one clock for every loop and fixed
     *                     for the session's life, so two snapshots order sessions alike (ages are per snapshot)
     */
    public record SessionRow(long id, String listener, String pool, String serverName, String client, String backend,
                             String backendLocal, String state, long ageMillis, long idleMillis, long bytesUp,
                             long bytesDown, long startedNanos) {
    }

    public final int loop;
    public final Map<Route, long[]> bytesByRoute = new IdentityHashMap<>();
    public final Map<Backend, long[]> bytesByBackend = new IdentityHashMap<>();
    /** The part of the bytes above that belongs to sessions that ended (what a take-over carries). */
    public final Map<Route, long[]> endedByRoute = new IdentityHashMap<>();
    public final Map<Backend, long[]> endedByBackend = new IdentityHashMap<>();
    public final List<SessionRow> sessions = new ArrayList<>();

    LoopSnapshot(int loop) {
        this.loop = loop;
    }

    /** The [up, down] per key of every loop's snapshot added up: {@code which} picks one of the maps above. */
    public static <K> Map<K, long[]> sum(List<LoopSnapshot> snapshots, Function<LoopSnapshot, Map<K, long[]>> which) {
        Map<K, long[]> out = new IdentityHashMap<>();
        for (LoopSnapshot s : snapshots) {
            which.apply(s).forEach((k, v) -> addTo(out.computeIfAbsent(k, x -> new long[2]), v));
        }
        return out;
    }

    /** Adds an [up, down] pair into another. */
    static void addTo(long[] to, long[] v) {
        to[0] += v[0];
        to[1] += v[1];
    }

    void add(Route r, long up, long down) {
        long[] v = bytesByRoute.computeIfAbsent(r, k -> new long[2]);
        v[0] += up;
        v[1] += down;
    }

    void add(Backend b, long up, long down) {
        long[] v = bytesByBackend.computeIfAbsent(b, k -> new long[2]);
        v[0] += up;
        v[1] += down;
    }
}
