package io.nioproxy.balance;

import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One backend server of a listener: its address, weight and state, and its live counters.
 *
 * <p>Identity: the resolved address as {@code ip:port} ({@code [v6]:port}). It is what the Maglev table hashes, so
 * two balancers that resolve the same addresses build the same table whatever the list order or host names.
 *
 * <p>State is two-phase in the HAProxy manner: health checks, the admin API and the backends file decide
 * ({@link BackendRegistry}, control threads, under its lock); loops only read {@link #inRotation()} (one volatile
 * read per connect attempt) and bump counters (atomics, once per session, never per byte).
 */
public final class Backend {
    /** Where a backend stands. */
    public enum State {
        /** Takes new clients. */
        UP,
        /** Failed its health checks (active or passive): takes no new clients. */
        DOWN,
        /** Being drained by an operator: takes no new clients; its sessions run to their end or a deadline. */
        DRAINING;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final String identity;
    private final InetSocketAddress address;
    /** What the operator wrote that produced this backend (a host name may produce several). */
    private final String source;
    private volatile int weight;
    private volatile State state = State.UP;
    /** Set when the backend is leaving the registry (removed, or gone from DNS / the file). */
    private volatile boolean removed;
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong sessions = new AtomicLong();
    private final AtomicLong connectFailures = new AtomicLong();
    /** Connect failures since the last success: the passive health signal. */
    private final AtomicInteger consecutiveConnectFailures = new AtomicInteger();

    /**
     * When it last joined the rotation while the balancer ran (added, or back up), for slow start;
     * {@link Long#MIN_VALUE} for a backend configured at start (it takes its full share at once).
     */
    private volatile long joinedNanos = Long.MIN_VALUE;

    /** Drain deadline ({@link System#nanoTime} terms); control threads only, under the registry's lock. */
    long drainDeadlineNanos = Long.MAX_VALUE;

    public Backend(InetSocketAddress address, int weight, String source) {
        this.address = address;
        this.weight = weight;
        this.source = source;
        this.identity = identityOf(address);
    }

    public static String identityOf(InetSocketAddress a) {
        String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
        return a.getAddress() instanceof Inet6Address ? "[" + host + "]:" + a.getPort() : host + ":" + a.getPort();
    }

    public String identity() {
        return identity;
    }

    /** A drain's deadline ({@link System#nanoTime} terms; {@link Long#MAX_VALUE}: none). Control threads. */
    public long drainDeadlineNanos() {
        return drainDeadlineNanos;
    }

    public InetSocketAddress address() {
        return address;
    }

    public String source() {
        return source;
    }

    public int weight() {
        return weight;
    }

    void weight(int w) {
        this.weight = w;
    }

    public State state() {
        return state;
    }

    void state(State s) {
        this.state = s;
    }

    public boolean removed() {
        return removed;
    }

    void markRemoved() {
        this.removed = true;
    }

    void restore() {
        this.removed = false;
    }

    /** Control: it joined the rotation now (added or back up while running): slow start runs from here. */
    void joined(long nowNanos) {
        this.joinedNanos = nowNanos;
    }

    /** When it last joined the rotation while running; {@link Long#MIN_VALUE} for a backend there from the start. */
    public long joinedNanos() {
        return joinedNanos;
    }

    /** Loops: may this backend take a new client? */
    public boolean inRotation() {
        return state == State.UP && !removed;
    }

    /** Sessions relayed to this backend right now, or connecting to it (all loops). */
    public int active() {
        return active.get();
    }

    /** Sessions ever opened to this backend. */
    public long sessions() {
        return sessions.get();
    }

    public long connectFailures() {
        return connectFailures.get();
    }

    public int consecutiveConnectFailures() {
        return consecutiveConnectFailures.get();
    }

    /** Loop thread: a client's connect to this backend starts; it counts as active from now (for maxconn, least-conn). */
    public void reserve() {
        active.incrementAndGet();
    }

    /** Loop thread: that connect failed; the place is free again. */
    public void unreserve() {
        active.decrementAndGet();
    }

    /** Loop thread: a session reached this backend (it was reserved when its connect started). */
    public void sessionOpened() {
        sessions.incrementAndGet();
        if (consecutiveConnectFailures.get() != 0) {
            consecutiveConnectFailures.set(0);
        }
    }

    /** Loop thread: a session that reached this backend ended. */
    public void sessionClosed() {
        active.decrementAndGet();
    }

    /** Its counters as {@code KEY=N} words, for a take-over: the new process goes on from them. */
    public String exportCounters() {
        return "sessions=" + sessions.get() + " connect_failures=" + connectFailures.get();
    }

    /** Adds the counters the previous process had for this backend ({@link #exportCounters}); others are skipped. */
    public void importCounters(java.util.Map<String, Long> counters) {
        sessions.addAndGet(counters.getOrDefault("sessions", 0L));
        connectFailures.addAndGet(counters.getOrDefault("connect_failures", 0L));
    }

    /** Loop thread: a connect attempt failed (refused, reset or timed out). */
    public void connectFailed() {
        connectFailures.incrementAndGet();
        consecutiveConnectFailures.incrementAndGet();
    }

    void resetPassive() {
        consecutiveConnectFailures.set(0);
    }

    @Override
    public String toString() {
        return weight == 1 ? identity : identity + "@" + weight;
    }
}
