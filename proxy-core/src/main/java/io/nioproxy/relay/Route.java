package io.nioproxy.relay;

import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.balance.Balancer;
import io.nioproxy.config.ListenerConfig;


import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * What a session needs from the listener that accepted it, or from the pool its TLS server name sent it to: the
 * settings, the balancer, and the counters. A session routed by name counts on both: its listener (it was accepted
 * there, its limits and timeouts are the listener's) and its pool (its backend, connects and bytes are the pool's).
 *
 * <p>Threading: immutable references; the counters are {@link LongAdder}s, bumped once per session event (accept,
 * connect failure, close), never per byte, by any loop, and read by anyone.
 */
public final class Route {
    private final ListenerConfig config;
    private final BackendRegistry registry;
    private final Balancer balancer;
    final LongAdder accepted = new LongAdder();
    final LongAdder noBackend = new LongAdder();
    final LongAdder connectFailures = new LongAdder();
    final LongAdder connectTimeouts = new LongAdder();
    final LongAdder closed = new LongAdder();
    private final LongAdder[] closedByReason = new LongAdder[Session.CloseReason.values().length];
    final java.util.concurrent.atomic.AtomicInteger active = new java.util.concurrent.atomic.AtomicInteger();
    /** Sessions of every listener of the process (shared by all routes), for {@code proxy.maxconn.global}. */
    private java.util.concurrent.atomic.AtomicInteger globalActive = new java.util.concurrent.atomic.AtomicInteger();
    private int maxConnGlobal;
    /** The listener's routing by server name; null when it has none (and for a pool). Set once at start-up. */
    private volatile SniRoutes sniRoutes;
    final ClientLimiter clientLimiter;
    final LongAdder proxyRejected = new LongAdder();
    final LongAdder limited = new LongAdder();
    final LongAdder localFailures = new LongAdder();
    /** Microseconds from connect start to connected. */
    private final LoopHistogram connectMicros;
    /** Milliseconds from accept to close of sessions that reached a backend. */
    private final LoopHistogram sessionMillis;
    public static final long MAX_CONNECT_MICROS = TimeUnit.HOURS.toMicros(1);
    public static final long MAX_SESSION_MILLIS = TimeUnit.DAYS.toMillis(366);

    public Route(ListenerConfig config, BackendRegistry registry) {
        this(config, registry, 1);
    }

    /** @param loops the number of event loops (one recorder each) */
    public Route(ListenerConfig config, BackendRegistry registry, int loops) {
        this.config = config;
        this.registry = registry;
        this.balancer = registry.balancer();
        this.clientLimiter = new ClientLimiter(config.protection().clientMaxConn(), config.protection().clientRate());
        for (int i = 0; i < closedByReason.length; i++) {
            closedByReason[i] = new LongAdder();
        }
        connectMicros = new LoopHistogram(loops, MAX_CONNECT_MICROS);
        sessionMillis = new LoopHistogram(loops, MAX_SESSION_MILLIS);
    }

    /** Loop {@code loop}: a backend connect took this long. */
    void recordConnectTime(int loop, long nanos) {
        connectMicros.record(loop, nanos / 1000);
    }

    /** Loop {@code loop}: a session that had reached its backend lived this long. */
    void recordSessionDuration(int loop, long nanos) {
        sessionMillis.record(loop, nanos / 1_000_000);
    }

    /** Backend connect times, in microseconds. */
    public LoopHistogram connectTimes() {
        return connectMicros;
    }

    /** Lifetimes of sessions that reached a backend, in milliseconds. */
    public LoopHistogram sessionDurations() {
        return sessionMillis;
    }

    void sessionEnded(Session.CloseReason reason) {
        closed.increment();
        closedByReason[reason.ordinal()].increment();
        active.decrementAndGet();
        globalActive.decrementAndGet();
    }

    void sessionStarted() {
        active.incrementAndGet();
        globalActive.incrementAndGet();
    }

    /** A session its listener accepted was routed to this pool by name (the process-wide count has it already). */
    void poolSessionStarted() {
        accepted.increment();
        active.incrementAndGet();
    }

    /** A session another process routed to this pool, adopted in a take-over (its accept was counted there). */
    void poolSessionAdopted() {
        active.incrementAndGet();
    }

    /**
     * The counters a take-over carries to the next process, as {@code name=value} words. Sessions handed over are not
     * among the closed: they go on, and close once, in the next process.
     */
    public String exportCounters() {
        StringBuilder sb = new StringBuilder();
        sb.append("accepted=").append(accepted.sum())
                .append(" closed=").append(closed.sum() - closedByReason[Session.CloseReason.HANDED_OVER.ordinal()].sum())
                .append(" no_backend=").append(noBackend.sum())
                .append(" connect_failures=").append(connectFailures.sum())
                .append(" connect_timeouts=").append(connectTimeouts.sum())
                .append(" proxy_rejected=").append(proxyRejected.sum())
                .append(" limited=").append(limited.sum())
                .append(" local_failures=").append(localFailures.sum());
        for (Session.CloseReason r : Session.CloseReason.values()) {
            long n = closedByReason[r.ordinal()].sum();
            if (n != 0 && r != Session.CloseReason.HANDED_OVER) {
                sb.append(" closed.").append(r.label()).append('=').append(n);
            }
        }
        return sb.toString();
    }

    /** Adds the counters of the process this one took over from ({@link #exportCounters}); unknown words are skipped. */
    public void importCounters(String words) {
        for (Map.Entry<String, Long> e : Handoff.counters(words).entrySet()) {
            String k = e.getKey();
            long n = e.getValue();
            switch (k) {
                case "accepted" -> accepted.add(n);
                case "closed" -> closed.add(n);
                case "no_backend" -> noBackend.add(n);
                case "connect_failures" -> connectFailures.add(n);
                case "connect_timeouts" -> connectTimeouts.add(n);
                case "proxy_rejected" -> proxyRejected.add(n);
                case "limited" -> limited.add(n);
                case "local_failures" -> localFailures.add(n);
                default -> {
                    for (Session.CloseReason r : Session.CloseReason.values()) {
                        if (k.equals("closed." + r.label())) {
                            closedByReason[r.ordinal()].add(n);
                        }
                    }
                }
            }
        }
    }

    /** A session routed to this pool ended (its listener counts the end too, and the process-wide count). */
    void poolSessionEnded(Session.CloseReason reason) {
        closed.increment();
        closedByReason[reason.ordinal()].increment();
        active.decrementAndGet();
    }

    /** Start-up: this listener reads each client's ClientHello and routes it by server name. */
    public void routeByName(SniRoutes routes) {
        this.sniRoutes = routes;
    }

    /** The routing by server name; null when the listener has none. */
    public SniRoutes sniRoutes() {
        return sniRoutes;
    }

    /** Start-up: share the process-wide session count and its limit with every other route. */
    public void globalLimit(java.util.concurrent.atomic.AtomicInteger shared, int max) {
        this.globalActive = shared;
        this.maxConnGlobal = max;
    }

    /** Loop (acceptor): may one more session start now (listener and process limits)? */
    public boolean admits() {
        int max = config.protection().maxConn();
        return (max == 0 || active.get() < max) && (maxConnGlobal == 0 || globalActive.get() < maxConnGlobal);
    }

    /** Connections closed because of a bad, missing, late or untrusted PROXY header. */
    public long proxyRejected() {
        return proxyRejected.sum();
    }

    /** Backend connects that could not start for a local reason (out of descriptors or ports). */
    public long localFailures() {
        return localFailures.sum();
    }

    /** Connections refused by a per-client limit. */
    public long limited() {
        return limited.sum();
    }

    /** Sessions ended for {@code reason}. */
    public long closedFor(Session.CloseReason reason) {
        return closedByReason[reason.ordinal()].sum();
    }

    /** Sessions open now (connecting or relaying). */
    public int active() {
        return active.get();
    }

    public BackendRegistry registry() {
        return registry;
    }

    public ListenerConfig config() {
        return config;
    }

    public Balancer balancer() {
        return balancer;
    }

    /** Client connections accepted. */
    public long accepted() {
        return accepted.sum();
    }

    /** Clients closed because no backend was in rotation, or every attempt failed. */
    public long noBackend() {
        return noBackend.sum();
    }

    /** Backend connect attempts that failed (refused, reset, unreachable, timed out). */
    public long connectFailures() {
        return connectFailures.sum();
    }

    /** Backend connect attempts that timed out (also counted in {@link #connectFailures}). */
    public long connectTimeouts() {
        return connectTimeouts.sum();
    }

    /** Sessions ended, however they ended. */
    public long closed() {
        return closed.sum();
    }

    /** Sessions ended by a reset on either side (carried to the other). */
    public long resets() {
        // derived from the per-reason counts: the endings that close with SO_LINGER 0
        return closedFor(Session.CloseReason.CLIENT_RESET) + closedFor(Session.CloseReason.BACKEND_RESET)
                + closedFor(Session.CloseReason.ERROR);
    }
}
