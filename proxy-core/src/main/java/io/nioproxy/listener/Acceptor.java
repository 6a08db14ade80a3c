package io.nioproxy.listener;

import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.IoHandler;
import io.nioproxy.loop.LoopTimer;
import io.nioproxy.log.Log;
import io.nioproxy.log.LogLimiter;
import io.nioproxy.relay.RawConn;
import io.nioproxy.relay.SessionTable;
import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;

import java.io.IOException;
import java.nio.ByteBuffer;
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
 * <p>Two kinds, as the loop: a {@link ServerSocketChannel} on a java.nio loop, a listening descriptor read with
 * accept4 (the accepted socket comes out non-blocking, its peer address with it) on an epoll loop.
 *
 * <p>Threading: its loop's thread only; {@link #close} from any thread.
 */
final class Acceptor implements IoHandler, LoopTimer, EventLoop.KeyOwner {
    static final int PAUSE_MILLIS = 100;
    /** Accepts per readiness event: enough to drain a burst, bounded so that one listener cannot starve the loop. */
    private static final int MAX_ACCEPTS_PER_EVENT = 64;
    /**
     * Epoll mode: one accept per readiness event, as nginx does by default ({@code multi_accept off}). Level-triggered
     * epoll reports the listener again on the next turn while clients wait, so a batch would only add the accept4
     * that returns EAGAIN at its end — one system call in every connection's cost.
     */
    private static final int EPOLL_ACCEPTS_PER_EVENT = 1;

    private final Listener listener;
    private final EventLoop loop;
    /** java.nio mode; null in epoll mode. */
    private final ServerSocketChannel server;
    /** epoll mode; -1 in java.nio mode. */
    private final int listenFd;
    /** epoll mode: where accept4 writes the client's address. */
    private final ByteBuffer peer;
    private volatile boolean closed;
    /** epoll mode: whether accepted sockets come with the listener's TCP_NODELAY (-1: not known yet). */
    private int noDelayInherited = -1;
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
        this.listenFd = -1;
        this.peer = null;
        this.tables = tables;
        this.loops = loops;
    }

    /** An epoll-mode acceptor of the listening descriptor {@code listenFd}. */
    Acceptor(Listener listener, EventLoop loop, int listenFd, SessionTable[] tables, EventLoop[] loops) {
        this.listener = listener;
        this.loop = loop;
        this.server = null;
        this.listenFd = listenFd;
        this.peer = ByteBuffer.allocateDirect(SockAddr.CAPACITY);
        this.tables = tables;
        this.loops = loops;
    }

    void register() throws IOException {
        if (server != null) {
            key = loop.register(server, SelectionKey.OP_ACCEPT, this);
        } else {
            loop.registerFd(listenFd, this, false);
            loop.interestFd(listenFd, SelectionKey.OP_ACCEPT);
        }
    }

    private void accepting(boolean on) {
        if (server != null) {
            key.interestOps(on ? SelectionKey.OP_ACCEPT : 0);
        } else if (!closed) {
            try {
                loop.interestFd(listenFd, on ? SelectionKey.OP_ACCEPT : 0);
            } catch (IOException e) {
                Log.warn(loop + ": cannot change accepting on " + listener.config().listen() + ": " + e.getMessage());
            }
        }
    }

    /** How often a listener paused at its maxconn looks again (clients wait in the kernel's backlog meanwhile). */
    static final long LIMIT_RECHECK_MILLIS = 10;

    /**
     * At maxconn (listener or process): stop accepting, as HAProxy does, and look again shortly; the clients wait in
     * the listen backlog (or the kernel refuses them once it is full) until a session ends.
     */
    private boolean pausedAtLimit() {
        if (listener.route().admits()) {
            return false;
        }
        accepting(false);
        resumeNanos = loop.now() + TimeUnit.MILLISECONDS.toNanos(LIMIT_RECHECK_MILLIS);
        loop.addTimer(this);
        listener.limitPauses.increment();
        return true;
    }

    @Override
    public void onReady(int readyOps) {
        if (server == null) {
            acceptRaw();
            return;
        }
        for (int i = 0; i < MAX_ACCEPTS_PER_EVENT; i++) {
            if (pausedAtLimit()) {
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

    /** Epoll mode: the same loop as {@link #onReady}'s, with accept4. */
    private void acceptRaw() {
        Linux.Calls sys = loop.sys();
        long addr = Linux.positionAddress(peer.clear());
        for (int i = 0; i < EPOLL_ACCEPTS_PER_EVENT && !closed; i++) {
            if (pausedAtLimit()) {
                return;
            }
            int fd = sys.accept4(listenFd, addr, SockAddr.CAPACITY, Linux.SOCK_NONBLOCK | Linux.SOCK_CLOEXEC);
            if (fd < 0) {
                int errno = sys.errno();
                if (errno == Linux.EAGAIN) {
                    return;
                }
                if (errno == Linux.EINTR || errno == 103 /* ECONNABORTED: the client left the backlog */) {
                    continue;
                }
                pause(new IOException(Linux.strerror(errno)));
                return;
            }
            if (noDelayInherited < 0 && listener.config().tcpNoDelay()) {
                noDelayInherited = sys.getIntOption(fd, Linux.IPPROTO_TCP, Linux.TCP_NODELAY) > 0 ? 1 : 0;
            }
            dispatch(new RawConn(fd, SockAddr.decode(peer), noDelayInherited == 1));
        }
    }

    /** Gives an accepted socket (a SocketChannel or a RawConn) to a session table, here or on another loop. */
    private void dispatch(Object accepted) {
        int i = 0;
        if (tables.length > 1) {
            i = nextLoop;
            nextLoop = i + 1 == tables.length ? 0 : i + 1;
        }
        if (loops[i] == loop) {
            open(tables[i], accepted, listener);
        } else if (!loops[i].execute(new Handoff(tables[i], accepted, listener))) {
            discard(accepted);
        }
    }

    private static void open(SessionTable table, Object accepted, Listener listener) {
        if (accepted instanceof RawConn raw) {
            table.open(raw, listener.route());
        } else {
            table.open((SocketChannel) accepted, listener.route());
        }
    }

    /** Closes an accepted socket that no loop took (the target loop stopped). Any thread. */
    private static void discard(Object accepted) {
        if (accepted instanceof RawConn raw) {
            raw.closeUnowned(Linux.calls());
        } else {
            closeQuietly((SocketChannel) accepted);
        }
    }

    private void pause(IOException cause) {
        accepting(false);
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
        if (server != null ? !key.isValid() : closed) {
            return;
        }
        if (listener.route().admits()) {
            accepting(true);
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
        if (server != null) {
            closeQuietly(server);
            loop.wakeup(); // the descriptor is released by the loop's next select: do it now, not within a second
            return;
        }
        if (closed) {
            return;
        }
        // epoll mode: the descriptor is the loop's to close (an event for it may be in flight); wait until it is,
        // so that the port refuses connections when this returns, as with a closed ServerSocketChannel
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        io.nioproxy.loop.LoopTask task = new io.nioproxy.loop.LoopTask() {
            @Override
            public void runOn(EventLoop l) {
                closeRawNow();
                done.countDown();
            }

            @Override
            public void discard() {
                done.countDown(); // the loop stopped: it closed every descriptor it had
            }
        };
        if (loop.inLoop()) {
            closeRawNow();
        } else if (loop.execute(task)) {
            try {
                done.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void closeRawNow() {
        if (!closed) {
            closed = true;
            loop.closeFd(listenFd);
        }
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
        private final Object accepted;
        private final Listener listener;

        Handoff(SessionTable table, Object accepted, Listener listener) {
            this.table = table;
            this.accepted = accepted;
            this.listener = listener;
        }

        @Override
        public void runOn(EventLoop loop) {
            open(table, accepted, listener);
        }

        @Override
        public void discard() {
            Acceptor.discard(accepted);
        }
    }
}
