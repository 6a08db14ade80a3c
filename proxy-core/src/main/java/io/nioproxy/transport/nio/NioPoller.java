package io.nioproxy.transport.nio;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.log.Log;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.Dispatcher;
import io.nioproxy.transport.Poller;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A loop's readiness source in java.nio mode: one {@link Selector}.
 *
 * <ul>
 *   <li>Ready keys are consumed with {@link Selector#select(Consumer, long)} (JDK 11+): the poller itself is the
 *   consumer, so no selected-key set is filled, iterated or cleared, and nothing is allocated per event.</li>
 *   <li>The selector is rebuilt after {@value #SPIN_REBUILD_THRESHOLD} selects in a row that return early with
 *   nothing ready and no wake-up asked (the epoll bug where a selector spins, JDK-6670302, JDK-6403933; Netty's
 *   work-around).</li>
 *   <li>Sockets are closed only once their key is deregistered ({@link #closeAfterDeregistration}).</li>
 * </ul>
 *
 * <p>Threading: the loop thread only, except {@link #wakeup}.
 */
public final class NioPoller implements Poller, Consumer<SelectionKey> {
    /** Selects in a row that return early with nothing to do before the selector is rebuilt. */
    static final int SPIN_REBUILD_THRESHOLD = 512;

    private Selector selector;
    private final SpinDetector spinDetector = new SpinDetector(SPIN_REBUILD_THRESHOLD);
    /** The dispatcher of the poll under way. */
    private Dispatcher dispatcher;
    /** Sockets whose keys were cancelled before the select that just ran: deregistered now, close them. */
    private ArrayDeque<Channel> closeNow = new ArrayDeque<>();
    /** Sockets whose keys were cancelled since: close after the next select. */
    private ArrayDeque<Channel> closeNext = new ArrayDeque<>();
    /** A wake-up was asked since the last select: an early return with nothing ready is not a spin. */
    private volatile boolean wakeupAsked;
    private volatile long rebuilds;

    NioPoller() throws IOException {
        selector = Selector.open();
    }

    /** The selector now (it changes at a rebuild); for tests that make it return early, as the JDK bug does. */
    Selector selector() {
        return selector;
    }

    /** Loop thread: registers {@code channel} (non-blocking) with {@code ops}; the key carries {@code handle}. */
    SelectionKey register(SelectableChannel channel, int ops, NioHandle handle) throws IOException {
        return channel.register(selector, ops, handle);
    }

    @Override
    public int poll(long timeoutMillis, Dispatcher dispatcher) throws IOException {
        this.dispatcher = dispatcher;
        long before = System.nanoTime();
        int selected = timeoutMillis == 0 ? selector.selectNow(this) : selector.select(this, timeoutMillis);
        boolean woken = wakeupAsked;
        if (woken) {
            wakeupAsked = false;
        }
        if (selected > 0 || woken) {
            spinDetector.reset();
        } else if (timeoutMillis > 1 && spinDetector.prematureReturn(System.nanoTime() - before,
                TimeUnit.MILLISECONDS.toNanos(timeoutMillis))) {
            rebuildSelector();
        }
        return selected;
    }

    /** The per-key callback of {@link Selector#select(Consumer, long)}. */
    @Override
    public void accept(SelectionKey key) {
        if (!key.isValid()) {
            // Cancelled by a handler earlier in this batch: its session ended (a client that reset while its reply was
            // being relayed closes both sockets while the other's event waits here). readyOps() would throw and fail
            // the whole turn, the rest of the batch with it (Netty checks isValid() for the same reason).
            return;
        }
        NioHandle handle = (NioHandle) key.attachment();
        if (!dispatcher.dispatch(handle.handler(), key.readyOps())) {
            key.cancel();
        }
    }

    @Override
    public boolean hasWork() {
        // sockets to close right after the next select — and those cancelled since the last one (by a task run at the
        // start of this turn: an admin close, a rebalance), or an idle loop would keep them open until it woke up
        return !closeNow.isEmpty() || !closeNext.isEmpty();
    }

    @Override
    public void endTurn() {
        Channel ch;
        while ((ch = closeNow.poll()) != null) {
            closeQuietly(ch);
        }
        ArrayDeque<Channel> swap = closeNow;
        closeNow = closeNext;
        closeNext = swap;
    }

    /**
     * Closes {@code ch} once its key is deregistered. Why: closing a socket that is still registered makes the JDK
     * (SocketChannelImpl.implCloseSelectableChannel) read SO_LINGER and shutdown(SHUT_WR) it, then defer the real
     * close to the next select anyway — two extra syscalls per socket, four per session. Cancelling the key now and
     * closing after the next select (which the loop then runs without blocking) costs none of them; the peer sees
     * the same FIN (or RST, with SO_LINGER 0 set before) microseconds later.
     */
    void closeAfterDeregistration(Channel ch, SelectionKey key) {
        if (key == null) {
            closeQuietly(ch);
            return;
        }
        key.cancel();
        closeNext.add(ch);
    }

    /**
     * Loop thread, outside {@link #poll}: deregisters the keys cancelled so far now (a select that waits for nothing
     * and dispatches nothing: level-triggered readiness it passes over is reported again by the next one).
     */
    void deregisterCancelled() {
        try {
            selector.selectNow(IGNORE);
        } catch (IOException e) {
            Log.warn("deregistering cancelled keys: " + e);
        }
    }

    private static final Consumer<SelectionKey> IGNORE = key -> { };

    @Override
    public Conn openBackend(InetSocketAddress remote, ListenerConfig config) throws IOException {
        return NioConn.openBackend(remote, config, this);
    }

    @Override
    public void wakeup() {
        wakeupAsked = true;
        selector.wakeup();
    }

    @Override
    public long rebuilds() {
        return rebuilds;
    }

    /**
     * Moves every key to a new selector with the same interest and attachment, then closes the old one. The
     * work-around Netty applies for the epoll bug where {@code select} returns at once with no key ready, forever
     * (JDK-6670302, JDK-6403933).
     */
    void rebuildSelector() throws IOException {
        Selector fresh = Selector.open();
        for (SelectionKey key : selector.keys()) {
            if (!key.isValid()) {
                continue;
            }
            int ops = key.interestOps();
            NioHandle handle = (NioHandle) key.attachment();
            key.cancel();
            try {
                handle.keyMoved(key.channel().register(fresh, ops, handle));
            } catch (IOException | RuntimeException e) {
                Log.warn("could not move a channel to the new selector, closing it: " + e);
                closeQuietly(key.channel());
            }
        }
        Selector old = selector;
        selector = fresh;
        old.close();
        rebuilds = rebuilds + 1; // the loop thread is the only writer
        spinDetector.reset();
        Log.warn(Thread.currentThread().getName() + ": select() returned early " + SPIN_REBUILD_THRESHOLD
                + " times in a row with nothing ready; selector rebuilt");
    }

    @Override
    public void close() {
        for (ArrayDeque<Channel> q : java.util.List.of(closeNow, closeNext)) {
            Channel ch;
            while ((ch = q.poll()) != null) {
                closeQuietly(ch);
            }
        }
        for (SelectionKey key : selector.keys()) {
            closeQuietly(key.channel());
        }
        closeQuietly(selector);
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
