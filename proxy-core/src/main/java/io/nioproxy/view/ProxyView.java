package io.nioproxy.view;

import io.nioproxy.health.HealthChecker;
import io.nioproxy.listener.Listener;
import io.nioproxy.log.AccessLog;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.relay.LoopSnapshot;
import io.nioproxy.relay.Session;

import java.util.List;
import java.util.function.Predicate;

/**
 * What the admin endpoint, the metrics and the dashboard's history see of a running balancer: its listeners (with
 * their backends and counters), its loops, snapshots taken on the loops, the health checkers and the access log —
 * and the one action the admin endpoint may ask of it, closing sessions. They depend on this, not on the class that
 * wires the process, so that no package imports the one that built it.
 *
 * <p>Threading: any thread but a loop's (a snapshot waits for every loop to answer).
 */
public interface ProxyView {
    List<Listener> listeners();

    /** @throws IllegalArgumentException when no listener has that name */
    Listener listener(String name);

    EventLoop[] loops();

    /**
     * Every loop's snapshot, taken on the loop itself.
     *
     * @param withSessions include a row per live session (selected by {@code filter}, null = all)
     */
    List<LoopSnapshot> snapshot(boolean withSessions, Predicate<Session> filter);

    /** Closes the sessions {@code filter} selects, on every loop; returns how many. */
    int closeSessions(Predicate<Session> filter);

    /** {@link #closeSessions(Predicate)} with the reason they are counted and logged under. */
    int closeSessions(Predicate<Session> filter, Session.CloseReason reason);

    /** The rebalancer of listener or pool {@code name}. */
    io.nioproxy.rebalance.Rebalancer rebalancer(String name);

    /** The health checker of listener {@code index} (in {@link #listeners()} order). */
    HealthChecker healthChecker(int index);

    /** Membership from etcd, or null when the backends come from properties, files, DNS and the admin API. */
    io.nioproxy.control.etcd.EtcdMembership membership();

    /** The access log, or null when off. */
    AccessLog accessLog();
}
