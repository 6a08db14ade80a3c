package io.nioproxy.transport;

import io.nioproxy.config.ListenerConfig;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * One event loop's readiness source, of one {@link Transport}'s kind. The loop is the same for every kind: it runs
 * its tasks, calls {@link #poll}, runs its timers and services, then {@link #endTurn}.
 *
 * <p>Threading: the loop thread only, except {@link #wakeup}.
 */
public interface Poller {
    /**
     * Waits up to {@code timeoutMillis} (0: not at all) for ready sockets and hands each to {@code dispatcher}.
     *
     * @return the events seen, a wake-up included: the loop's idle strategy counts a turn with any as busy
     */
    int poll(long timeoutMillis, Dispatcher dispatcher) throws IOException;

    /** Work is waiting without any event (a socket to read again, a socket to close): the loop must not block. */
    boolean hasWork();

    /** After the turn's timers and services: finish what they started (closes deferred until no batch runs). */
    void endTurn();

    /** A non-blocking backend socket of this poller's kind toward {@code remote}, options applied, not connected. */
    Conn openBackend(InetSocketAddress remote, ListenerConfig config) throws IOException;

    /** Any thread: makes a blocked {@link #poll} return. */
    void wakeup();

    /** Times the poller replaced its own kernel object after it misbehaved (java.nio's selector spin); else 0. */
    default long rebuilds() {
        return 0;
    }

    /** The loop is stopping: closes every socket still registered, then the poller itself. */
    void close();
}
