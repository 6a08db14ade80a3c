package io.nioproxy.view;

import io.nioproxy.health.HealthChecker;
import io.nioproxy.listener.Listener;
import io.nioproxy.log.AccessLog;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.relay.LiveSessions;

import java.util.List;

/**
 * What the admin endpoint, the metrics and the dashboard's history see of a running balancer: its listeners (with
 * their backends and counters), its loops, snapshots taken on the loops, the health checkers and the access log —
 * and the one action the admin endpoint may ask of it, closing sessions ({@link LiveSessions}). They depend on this, not on the class that
 * wires the process, so that no package imports the one that built it.
 *
 * <p>Threading: any thread but a loop's (a snapshot waits for every loop to answer).
 */
public interface ProxyView extends LiveSessions {
    List<Listener> listeners();

    /** @throws IllegalArgumentException when no listener has that name */
    Listener listener(String name);

    EventLoop[] loops();

    /** The rebalancer of listener or pool {@code name}. */
    io.nioproxy.rebalance.Rebalancer rebalancer(String name);

    /** The health checker of listener {@code index} (in {@link #listeners()} order). */
    HealthChecker healthChecker(int index);

    /** Membership from etcd, or null when the backends come from properties, files, DNS and the admin API. */
    io.nioproxy.control.etcd.EtcdMembership membership();

    /** The access log, or null when off. */
    AccessLog accessLog();
}
