package io.nioproxy.listener;

import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.IoHandler;
import io.nioproxy.loop.LoopTimer;
import io.nioproxy.log.Log;
import io.nioproxy.log.LogLimiter;
import io.nioproxy.relay.SessionTable;

import java.io.IOException;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * Accepts clients from one listening socket on one loop, and gives each to a session table: its own loop's, or —
 * in {@code acceptor} mode — each loop's in turn, through that loop's MPSC queue.
 *
 * <p>Out of descriptors ({@code EMFILE}/{@code ENFILE}) or any other accept failure: accepting pauses for
 * {@value #PAUSE_MILLIS} ms (OP_ACCEPT off) instead of spinning on a listening socket that stays readable while
 * connections wait in the backlog — the nginx and HAProxy answer to the same fault. Sessions already open are not
 * touched; the clients wait in the backlog and are served once descriptors free up.
 *
 * <p>Threading: its loop's thread only.
 */
final class Acceptor implements IoHandler, LoopTimer, EventLoop.KeyOwner {
    static final int PAUSE_MILLIS = 100;
    /** Accepts per readiness event: enough to drain a burst, bounded so that one listener cannot starve the loop. */
    private static final int MAX_ACCEPTS_PER_EVENT = 64;

    private final Listener listener;
    private final EventLoop loop;
    private final ServerSocketChannel server;
    private final SessionTable[] tables;
    private final EventLoop[] loops;
    private final LogLimiter failureLog = new LogLimiter(TimeUnit.SECONDS.toNanos(1));
    private SelectionKey key;
    private int nextLoop;
    private long resumeNanos = Long.MAX_VALUE;

    /**
     * @param tables the tables to give sockets to: just this loop's ({@code reuseport}), or every loop's in turn
     * @param loops  the loops owning {@code tables}, same order
     */
    Acceptor(Listener listener, EventLoop loop, ServerSocketChannel server, SessionTable[] tables, EventLoop[] loops) {
        this.listener = listener;
        this.loop = loop;
        this.server = server;
        this.tables = tables;
        this.loops = loops;
    }

    void register() throws IOException {
        key = loop.register(server, SelectionKey.OP_ACCEPT, this);
    }

    /** How often a listener paused at its maxconn looks again (clients wait in the kernel's backlog meanwhile). */
    static final long LIMIT_RECHECK_MILLIS = 10;

    @Override
    public void onReady(SelectionKey k, int readyOps) {
        for (int i = 0; i < MAX_ACCEPTS_PER_EVENT; i++) {
            if (!listener.route().admits()) {
                // maxconn reached (listener or process): stop accepting, as HAProxy does; the clients wait in the
                // listen backlog (or the kernel refuses them once it is full) until a session ends
                key.interestOps(0);
                resumeNanos = loop.now() + TimeUnit.MILLISECONDS.toNanos(LIMIT_RECHECK_MILLIS);
                loop.addTimer(this);
                listener.limitPauses.increment();
                return;
            }
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                pause(e);
                return;
            }
            if (ch == null) {
                return;
            }
            dispatch(ch);
        }
    }

    private void dispatch(SocketChannel ch) {
        int i = 0;
        if (tables.length > 1) {
            i = nextLoop;
            nextLoop = i + 1 == tables.length ? 0 : i + 1;
        }
        if (loops[i] == loop) {
            tables[i].open(ch, listener.route());
        } else if (!loops[i].execute(new Handoff(tables[i], ch, listener))) {
            closeQuietly(ch);
        }
    }

    private void pause(IOException cause) {
        key.interestOps(0);
        resumeNanos = loop.now() + TimeUnit.MILLISECONDS.toNanos(PAUSE_MILLIS);
        loop.addTimer(this);
        listener.acceptPauses.increment();
        if (failureLog.allow(loop.now())) {
            Log.warn(loop + ": accept on " + listener.config().listen() + " failed (" + cause.getMessage()
                    + "); pausing accepts for " + PAUSE_MILLIS + " ms (" + failureLog.suppressed() + " more suppressed)");
        }
    }

    @Override
    public long deadlineNanos() {
        return resumeNanos;
    }

    @Override
    public void onDeadline(long nowNanos) {
        resumeNanos = Long.MAX_VALUE;
        if (!key.isValid()) {
            return;
        }
        if (listener.route().admits()) {
            key.interestOps(SelectionKey.OP_ACCEPT);
        } else {
            resumeNanos = nowNanos + TimeUnit.MILLISECONDS.toNanos(LIMIT_RECHECK_MILLIS);
            loop.addTimer(this);
        }
    }

    @Override
    public void onFailure(Throwable cause) {
        pause(new IOException(cause.toString()));
    }

    @Override
    public void keyMoved(SelectionKey oldKey, SelectionKey newKey) {
        if (key == oldKey) {
            key = newKey;
        }
    }

    void close() {
        closeQuietly(server);
        loop.wakeup(); // the descriptor is released by the loop's next select: do it now, not within a second
    }

    private static void closeQuietly(java.nio.channels.Channel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    /** An accepted socket travelling to another loop (acceptor mode). */
    private static final class Handoff implements io.nioproxy.loop.LoopTask {
        private final SessionTable table;
        private final SocketChannel channel;
        private final Listener listener;

        Handoff(SessionTable table, SocketChannel channel, Listener listener) {
            this.table = table;
            this.channel = channel;
            this.listener = listener;
        }

        @Override
        public void runOn(EventLoop loop) {
            table.open(channel, listener.route());
        }

        @Override
        public void discard() {
            closeQuietly(channel);
        }
    }
}
