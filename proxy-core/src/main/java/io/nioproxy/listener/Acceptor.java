package io.nioproxy.listener;

import io.nioproxy.log.Log;
import io.nioproxy.log.LogLimiter;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.LoopTask;
import io.nioproxy.loop.LoopTimer;
import io.nioproxy.relay.SessionTable;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.ListenSocket;

import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Accepts clients from one listening socket on one loop, and gives each to a session table: its own loop's, or —
 * in {@code acceptor} mode — each loop's in turn, through that loop's MPSC queue.
 *
 * <p>Out of descriptors ({@code EMFILE}/{@code ENFILE}) or any other accept failure: accepting pauses for
 * {@value #PAUSE_MILLIS} ms instead of spinning on a listening socket that stays readable while connections wait in
 * the backlog — the nginx and HAProxy answer to the same fault. Sessions already open are not touched; the clients
 * wait in the backlog and are served once descriptors free up.
 *
 * <p>Threading: its loop's thread only; {@link #close} from any thread.
 */
final class Acceptor extends LoopTimer implements IoHandler {
    static final int PAUSE_MILLIS = 100;
    /** How often a listener paused at its maxconn looks again (clients wait in the kernel's backlog meanwhile). */
    static final long LIMIT_RECHECK_MILLIS = 10;

    private final Listener listener;
    private final EventLoop loop;
    private final ListenSocket socket;
    private final SessionTable[] tables;
    private final EventLoop[] loops;
    private final LogLimiter failureLog = new LogLimiter(TimeUnit.SECONDS.toNanos(1));
    /** Loop thread. */
    private boolean closed;
    /** The socket is registered with the loop, which then closes it when it stops. */
    private volatile boolean registered;
    private int nextLoop;

    /**
     * @param tables the tables to give sockets to: just this loop's ({@code reuseport}), or every loop's in turn
     * @param loops  the loops owning {@code tables}, same order
     */
    Acceptor(Listener listener, EventLoop loop, ListenSocket socket, SessionTable[] tables, EventLoop[] loops) {
        this.listener = listener;
        this.loop = loop;
        this.socket = socket;
        this.tables = tables;
        this.loops = loops;
    }

    EventLoop loop() {
        return loop;
    }

    /** Loop thread. */
    void register() throws IOException {
        socket.register(loop.poller(), this);
        registered = true;
    }

    private void accepting(boolean on) {
        if (closed) {
            return;
        }
        try {
            socket.accepting(on);
        } catch (IOException e) {
            Log.warn(loop + ": cannot change accepting on " + listener.config().listen() + ": " + e.getMessage());
        }
    }

    /**
     * At maxconn (listener or process): stop accepting, as HAProxy does, and look again shortly; the clients wait in
     * the listen backlog (or the kernel refuses them once it is full) until a session ends.
     */
    private boolean pausedAtLimit() {
        if (listener.route().admits()) {
            return false;
        }
        accepting(false);
        loop.schedule(this, loop.now() + TimeUnit.MILLISECONDS.toNanos(LIMIT_RECHECK_MILLIS));
        listener.limitPauses.increment();
        return true;
    }

    @Override
    public void onReady(int readyOps) {
        for (int i = 0, n = socket.acceptsPerEvent(); i < n && !closed; i++) {
            if (pausedAtLimit()) {
                return;
            }
            Conn conn;
            try {
                conn = socket.accept();
            } catch (IOException e) {
                pause(e);
                return;
            }
            if (conn == null) {
                return;
            }
            dispatch(conn);
        }
    }

    /** Gives an accepted socket to a session table, here or on another loop. */
    private void dispatch(Conn accepted) {
        int i = 0;
        if (tables.length > 1) {
            i = nextLoop;
            nextLoop = i + 1 == tables.length ? 0 : i + 1;
        }
        if (loops[i] == loop) {
            tables[i].open(accepted, listener.route());
        } else if (!loops[i].execute(new Handoff(tables[i], accepted, listener))) {
            accepted.closeUnattached();
        }
    }

    private void pause(IOException cause) {
        accepting(false);
        loop.schedule(this, loop.now() + TimeUnit.MILLISECONDS.toNanos(PAUSE_MILLIS));
        listener.acceptPauses.increment();
        if (failureLog.allow(loop.now())) {
            Log.warn(loop + ": accept on " + listener.config().listen() + " failed (" + cause.getMessage()
                    + "); pausing accepts for " + PAUSE_MILLIS + " ms (" + failureLog.suppressed() + " more suppressed)");
        }
    }

    @Override
    protected void onDeadline(long nowNanos) {
        if (closed) {
            return;
        }
        if (listener.route().admits()) {
            accepting(true);
        } else {
            loop.schedule(this, nowNanos + TimeUnit.MILLISECONDS.toNanos(LIMIT_RECHECK_MILLIS));
        }
    }

    @Override
    public void onFailure(Throwable cause) {
        pause(new IOException(cause.toString()));
    }

    /**
     * Any thread: closes the listening socket on its loop (an event for it may be in flight there) and waits until it
     * is closed, so that the port refuses connections when this returns.
     */
    /** The listening socket's descriptor (-1 with java.nio), for a take-over. */
    int nativeFd() {
        return socket.nativeFd();
    }

    void close() {
        if (loop.inLoop()) {
            closeNow();
            return;
        }
        CountDownLatch done = new CountDownLatch(1);
        LoopTask task = new LoopTask() {
            @Override
            public void runOn(EventLoop l) {
                closeNow();
                done.countDown();
            }

            @Override
            public void discard() {
                done.countDown(); // the loop stopped: it closed every socket it had
            }
        };
        if (loop.execute(task)) {
            try {
                done.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        } else if (!registered) {
            socket.close(); // never reached the loop (which closed every socket it had when it stopped)
        }
    }

    private void closeNow() {
        if (!closed) {
            closed = true;
            loop.cancel(this);
            socket.close();
        }
    }

    /** An accepted socket travelling to another loop (acceptor mode). */
    private static final class Handoff implements LoopTask {
        private final SessionTable table;
        private final Conn accepted;
        private final Listener listener;

        Handoff(SessionTable table, Conn accepted, Listener listener) {
            this.table = table;
            this.accepted = accepted;
            this.listener = listener;
        }

        @Override
        public void runOn(EventLoop loop) {
            table.open(accepted, listener.route());
        }

        @Override
        public void discard() {
            accepted.closeUnattached();
        }
    }
}
