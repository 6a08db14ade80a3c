package io.nioproxy.relay;

import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.balance.Balancer;
import io.nioproxy.config.ListenerConfig;

import java.util.concurrent.atomic.LongAdder;

/**
 * What a session needs from the listener that accepted it: the listener's settings, its balancer, and its
 * counters.
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
    final LongAdder resets = new LongAdder();

    public Route(ListenerConfig config, BackendRegistry registry) {
        this.config = config;
        this.registry = registry;
        this.balancer = registry.balancer();
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
        return resets.sum();
    }
}
