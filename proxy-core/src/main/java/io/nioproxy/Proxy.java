package io.nioproxy;

import io.nioproxy.buffer.BufferPool;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.config.ProxyConfig;
import io.nioproxy.listener.Listener;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.relay.SessionTable;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A running balancer: the event loops, their session tables, and the listeners bound on them. What {@code Main}
 * starts from the command line, and what tests and the demo start in-process.
 *
 * <p>Threading: {@link #start} and {@link #close} on one controlling thread; the read-only accessors from any
 * thread.
 */
public final class Proxy implements AutoCloseable {
    private final ProxyConfig config;
    private final EventLoop[] loops;
    private final SessionTable[] tables;
    private final List<Listener> listeners = new ArrayList<>();
    private volatile boolean closed;

    private Proxy(ProxyConfig config) {
        this.config = config;
        this.loops = new EventLoop[config.workers()];
        this.tables = new SessionTable[config.workers()];
    }

    /**
     * Starts the loops and binds every listener.
     *
     * @throws ConfigException when a listener cannot be bound or a backend host does not resolve (nothing is left
     *                         running)
     */
    public static Proxy start(ProxyConfig config) {
        Proxy p = new Proxy(config);
        try {
            p.startLoops();
            for (ListenerConfig lc : config.listeners()) {
                Listener l = new Listener(lc);
                p.listeners.add(l);
                l.bind(p.loops, p.tables, config.acceptMode());
            }
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
        return p;
    }

    private void startLoops() {
        long shortestIdle = 0;
        for (ListenerConfig lc : config.listeners()) {
            if (lc.idleTimeoutNanos() > 0) {
                shortestIdle = shortestIdle == 0 ? lc.idleTimeoutNanos() : Math.min(shortestIdle, lc.idleTimeoutNanos());
            }
        }
        for (int i = 0; i < loops.length; i++) {
            try {
                loops[i] = new EventLoop(i, new BufferPool(config.bufferBytes(), config.poolBytesPerLoop()));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open a selector", e);
            }
            tables[i] = new SessionTable(loops[i], shortestIdle);
            loops[i].addService(tables[i]);
            loops[i].start();
        }
    }

    public ProxyConfig config() {
        return config;
    }

    public List<Listener> listeners() {
        return List.copyOf(listeners);
    }

    public Listener listener(String name) {
        for (Listener l : listeners) {
            if (l.config().name().equals(name)) {
                return l;
            }
        }
        throw new IllegalArgumentException("no listener " + name);
    }

    /** Sessions open now, over all loops. */
    public int sessions() {
        int n = 0;
        for (SessionTable t : tables) {
            n += t == null ? 0 : t.sessions();
        }
        return n;
    }

    /** Pooled buffers held now, over all loops (0 when nothing is in flight). */
    public int buffersInUse() {
        int n = 0;
        for (EventLoop l : loops) {
            n += l == null ? 0 : l.pool().inUse();
        }
        return n;
    }

    /** Most buffers all pools together may hold. */
    public long maxBuffers() {
        long n = 0;
        for (EventLoop l : loops) {
            n += l == null ? 0 : l.pool().maxBuffers();
        }
        return n;
    }

    /** The ids of the loop threads, in loop order. */
    public long[] loopThreadIds() {
        long[] ids = new long[loops.length];
        for (int i = 0; i < loops.length; i++) {
            ids[i] = loops[i].threadId();
        }
        return ids;
    }

    /** Stops accepting on every listener; sessions already open go on. Any thread. */
    public void stopAccepting() {
        for (Listener l : listeners) {
            l.close();
        }
    }

    /** Stops accepting, closes every session and stops the loops. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        stopAccepting();
        for (EventLoop l : loops) {
            if (l != null) {
                l.close();
            }
        }
    }
}
