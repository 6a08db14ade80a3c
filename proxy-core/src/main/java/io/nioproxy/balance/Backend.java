package io.nioproxy.balance;

import io.nioproxy.config.BackendSpec;

import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One backend server of a listener, with its live counters.
 *
 * <p>Threading: identity fields are immutable. Counters are atomics written by the event loops once per session
 * (never per byte) and read by anyone; {@link #active} drives {@code least-conn}.
 */
public final class Backend {
    private final BackendSpec spec;
    private final String identity;
    private final InetSocketAddress address;
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong connectFailures = new AtomicLong();
    private final AtomicLong sessions = new AtomicLong();

    public Backend(BackendSpec spec, InetSocketAddress address) {
        this.spec = spec;
        this.identity = spec.identity();
        this.address = address;
    }

    public String identity() {
        return identity;
    }

    public int weight() {
        return spec.weight();
    }

    public InetSocketAddress address() {
        return address;
    }

    public BackendSpec spec() {
        return spec;
    }

    /** Sessions relayed to this backend right now (all loops). */
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

    /** Loop thread: a session reached this backend. */
    public void sessionOpened() {
        active.incrementAndGet();
        sessions.incrementAndGet();
    }

    /** Loop thread: a session that reached this backend ended. */
    public void sessionClosed() {
        active.decrementAndGet();
    }

    /** Loop thread: a connect attempt failed (refused, reset or timed out). */
    public void connectFailed() {
        connectFailures.incrementAndGet();
    }

    @Override
    public String toString() {
        return spec.toString();
    }
}
