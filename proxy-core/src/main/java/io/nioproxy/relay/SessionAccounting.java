package io.nioproxy.relay;

import io.nioproxy.balance.Backend;
import io.nioproxy.log.AccessLog;

import java.net.InetSocketAddress;
import java.util.IdentityHashMap;
import java.util.function.Predicate;

/**
 * What one loop's sessions moved and how they ended, for the metrics, the admin endpoint and the access log: the
 * bytes of sessions that ended, per route and per backend (live sessions' bytes are read from them when a snapshot is
 * taken), and one access-log line per session at its end, plus interim lines for long ones.
 *
 * <p>Threading: the loop thread only.
 */
final class SessionAccounting {
    private final int loopIndex;
    /** Bytes of sessions that ended on this loop: [up, down]. */
    private final IdentityHashMap<Route, long[]> endedByRoute = new IdentityHashMap<>();
    private final IdentityHashMap<Backend, long[]> endedByBackend = new IdentityHashMap<>();
    private AccessLog accessLog;
    private long interimNanos;

    SessionAccounting(int loopIndex) {
        this.loopIndex = loopIndex;
    }

    /** Before the loop starts: where session lines go, and how often long sessions get an interim line (0: never). */
    void accessLog(AccessLog log, long interimNanos) {
        this.accessLog = log;
        this.interimNanos = log == null ? 0 : interimNanos;
    }

    /** Interim access-log lines every this often (0: none). */
    long interimNanos() {
        return interimNanos;
    }

    /** A session ended: keep its bytes, write its line. */
    void ended(Session s, Session.CloseReason reason, long nowNanos) {
        long up = s.bytesUp();
        long down = s.bytesDown();
        // a session handed over goes on in the new process, which counts its bytes from its first one
        if ((up != 0 || down != 0) && reason != Session.CloseReason.HANDED_OVER) {
            long[] r = endedByRoute.computeIfAbsent(s.front, k -> new long[2]);
            r[0] += up;
            r[1] += down;
            if (s.route != s.front) { // a pool's bytes too
                long[] p = endedByRoute.computeIfAbsent(s.route, k -> new long[2]);
                p[0] += up;
                p[1] += down;
            }
            if (s.target != null) {
                long[] b = endedByBackend.computeIfAbsent(s.target, k -> new long[2]);
                b[0] += up;
                b[1] += down;
            }
        }
        if (accessLog != null) {
            accessLog.offer(new AccessLog.Entry(System.currentTimeMillis(), false, s.front.config().name(),
                    poolOf(s), s.serverName, address(s.clientAddress), s.target == null ? null : s.target.identity(), up, down,
                    (nowNanos - s.startNanos) / 1_000_000, reason.label()));
        }
    }

    /** A take-over: the previous process's ended sessions' bytes, counted as this loop's own. */
    void carry(java.util.Map<Route, long[]> byRoute, java.util.Map<Backend, long[]> byBackend) {
        byRoute.forEach((r, v) -> LoopSnapshot.addTo(endedByRoute.computeIfAbsent(r, k -> new long[2]), v));
        byBackend.forEach((b, v) -> LoopSnapshot.addTo(endedByBackend.computeIfAbsent(b, k -> new long[2]), v));
    }

    /** A long session's interim line: what it moved so far. */
    void interim(Session s, long nowNanos) {
        if (accessLog != null) {
            accessLog.offer(new AccessLog.Entry(System.currentTimeMillis(), true, s.front.config().name(),
                    poolOf(s), s.serverName, address(s.clientAddress), s.target.identity(), s.bytesUp(), s.bytesDown(),
                    (nowNanos - s.startNanos) / 1_000_000, null));
        }
    }

    /**
     * The traffic of this loop — bytes of ended sessions plus the live sessions' bytes so far — and, when asked, a
     * row per live session. One consistent view per loop: nothing is counted twice or missed.
     */
    LoopSnapshot snapshot(SessionTable live, long nowNanos, boolean withSessions, Predicate<Session> filter) {
        LoopSnapshot snap = new LoopSnapshot(loopIndex);
        endedByRoute.forEach((r, v) -> {
            snap.add(r, v[0], v[1]);
            snap.endedByRoute.put(r, v.clone());
        });
        endedByBackend.forEach((b, v) -> {
            snap.add(b, v[0], v[1]);
            snap.endedByBackend.put(b, v.clone());
        });
        live.forEach(s -> {
            long up = s.bytesUp();
            long down = s.bytesDown();
            snap.add(s.front, up, down);
            if (s.route != s.front) {
                snap.add(s.route, up, down);
            }
            if (s.target != null && !s.connecting()) {
                snap.add(s.target, up, down);
            }
            if (withSessions && (filter == null || filter.test(s))) {
                snap.sessions.add(new LoopSnapshot.SessionRow(s.id, s.front.config().name(), poolOf(s), s.serverName,
                        address(s.clientAddress), s.target == null ? null : s.target.identity(), s.backendLocal(),
                        s.stateLabel(),
                        (nowNanos - s.startNanos) / 1_000_000, (nowNanos - s.lastActiveNanos) / 1_000_000, up, down,
                        s.startNanos));
            }
        });
        return snap;
    }

    /**
     * The route a session of a listener that routes by server name was sent to (its pool, or the listener itself
     * for the fallback); null for a session not routed by name.
     */
    private static String poolOf(Session s) {
        return s.routedByName ? s.route.config().name() : null;
    }

    private static String address(InetSocketAddress a) {
        return a == null ? "-" : Backend.identityOf(a);
    }
}
