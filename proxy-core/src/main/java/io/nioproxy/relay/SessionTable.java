package io.nioproxy.relay;

import io.nioproxy.log.AccessLog;
import io.nioproxy.log.Log;
import io.nioproxy.log.LogLimiter;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.LoopService;
import io.nioproxy.transport.Conn;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * The sessions of one event loop: starts one for each accepted socket, keeps them in an intrusive doubly-linked
 * list (adding and removing allocate nothing and cost O(1)), and closes them on request (admin, drain, shutdown).
 * What the sessions share on the loop lives beside it: {@link LoopBuffers} (the buffers and the legs waiting for
 * one), {@link SessionAccounting} (bytes of ended sessions, access-log lines, snapshots), and the loop's timer
 * wheel, where each session keeps its deadlines ({@link SessionTimer}).
 *
 * <p>Threading: loop thread only, except the count read through {@link #sessions()}, which any thread may read
 * (release stores).
 */
public final class SessionTable implements LoopService {
    private static final VarHandle SESSIONS;

    static {
        try {
            SESSIONS = MethodHandles.lookup().findVarHandle(SessionTable.class, "sessionCount", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final EventLoop loop;
    private final LoopBuffers buffers;
    private final SessionAccounting accounting;
    private Session head;
    @SuppressWarnings("unused") // through SESSIONS
    private int sessionCount;
    private int sessions;
    private long nextId = 1;
    private final LogLimiter localFailureLog = new LogLimiter(java.util.concurrent.TimeUnit.SECONDS.toNanos(1));

    private io.nioproxy.tls.ClientHelloParser helloParser;

    public SessionTable(EventLoop loop) {
        this.loop = loop;
        this.buffers = new LoopBuffers(loop.pool(), loop.bulkPool());
        this.accounting = new SessionAccounting(loop.index());
    }

    EventLoop loop() {
        return loop;
    }

    /** The loop's ClientHello reader, made on first use (by a listener that routes by server name). */
    io.nioproxy.tls.ClientHelloParser helloParser() {
        if (helloParser == null) {
            helloParser = new io.nioproxy.tls.ClientHelloParser(buffers.regularBytes());
        }
        return helloParser;
    }

    LoopBuffers buffers() {
        return buffers;
    }

    long interimNanos() {
        return accounting.interimNanos();
    }

    /** Before the loop starts: where session lines go, and how often long sessions get an interim line (0: never). */
    public void accessLog(AccessLog log, long interimNanos) {
        accounting.accessLog(log, interimNanos);
    }

    /** Loop thread: a client socket accepted for {@code route} (here or on another loop); start its session. */
    public void open(Conn conn, Route route) {
        route.accepted.increment();
        route.sessionStarted();
        conn.attach(loop.poller());
        try {
            conn.configureAsClient(route.config());
        } catch (java.io.IOException | RuntimeException e) {
            // the client went away between accept and here: nothing to relay
            conn.close();
            route.sessionEnded(Session.CloseReason.CLIENT_RESET);
            return;
        }
        Session s = new Session(this, route, conn, ((long) loop.index() << 40) | nextId++);
        link(s);
        s.start();
    }

    /** From {@link Session#close}: account for it and forget it. */
    /** Loop thread: a take-over's bytes of sessions that ended in the previous process ({@link Handoff.Sessions}). */
    public void carryEnded(java.util.Map<Route, long[]> byRoute,
                           java.util.Map<io.nioproxy.balance.Backend, long[]> byBackend) {
        accounting.carry(byRoute, byBackend);
    }

    void ended(Session s, Session.CloseReason reason) {
        accounting.ended(s, reason, loop.now());
        unlink(s);
    }

    /**
     * From a session's {@code Connector}: a backend connect could not even start here (out of descriptors or local
     * ports). The client is closed and counted ({@code nioproxy_local_connect_failures_total}); the log says so once
     * a second at most, with how many it did not repeat.
     */
    void localFailure(String what, Exception cause) {
        if (localFailureLog.allow(loop.now())) {
            Log.warn(loop + ": " + what + " (" + cause.getMessage() + "): closing the client ("
                    + localFailureLog.suppressed() + " more suppressed)");
        }
    }

    /** From {@link SessionTimer}: a long session's interim access-log line. */
    void interim(Session s, long nowNanos) {
        accounting.interim(s, nowNanos);
    }

    /** Calls {@code action} for every live session (which must not close any). */
    void forEach(Consumer<Session> action) {
        for (Session s = head; s != null; s = s.next) {
            action.accept(s);
        }
    }

    /**
     * Loop thread: the traffic of this loop — bytes of ended sessions plus the live sessions' bytes so far — and,
     * when asked, a row per live session (selected by {@code filter}, null = all).
     */
    public LoopSnapshot snapshot(boolean withSessions, Predicate<Session> filter) {
        return accounting.snapshot(this, loop.now(), withSessions, filter);
    }

    /** Loop thread: closes the sessions {@code filter} selects, for {@code reason}; returns how many. */
    public int closeWhere(Predicate<Session> filter, Session.CloseReason reason) {
        int n = 0;
        Session s = head;
        while (s != null) {
            Session next = s.next;
            if (filter.test(s)) {
                s.close(reason);
                n++;
            }
            s = next;
        }
        return n;
    }

    /** Loop thread: closes every session relaying to {@code backend} (drain deadline, close-on-down). */
    public int closeSessionsOf(io.nioproxy.balance.Backend backend, Session.CloseReason reason) {
        return closeWhere(s -> s.target == backend && s.relaying(), reason);
    }

    /**
     * Loop thread: close every session at a random moment within {@code windowNanos} from now, so that clients
     * reconnecting elsewhere arrive spread out instead of in one storm (the thundering herd a plain close-all makes).
     */
    public void beginPacedClose(long windowNanos, long seed) {
        long now = loop.now();
        SplittableRandom random = new SplittableRandom(seed);
        for (Session s = head; s != null; s = s.next) {
            s.timer.closeAt(now + (windowNanos <= 0 ? 0 : random.nextLong(windowNanos)));
        }
    }

    /** Loop thread: freezes up to {@code max} sessions a take-over may move (see {@link Handoff}). */
    public List<Handoff.Frozen> freezeMovable(int max) {
        List<Handoff.Frozen> out = new ArrayList<>();
        long now = loop.now();
        for (Session s = head; s != null && out.size() < max; s = s.next) {
            if (s.transferable()) {
                s.freeze();
                out.add(new Handoff.Frozen(s, this, new Handoff.Row(s.id, s.front.config().name(), s.route.config().name(),
                        s.target.identity(), s.clientAddress, s.serverName, s.clientHash, now - s.startNanos,
                        s.client.bytesIn, s.backend.bytesIn), s.client.conn.nativeFd(), s.backend.conn.nativeFd()));
            }
        }
        return out;
    }

    /** Loop thread: the sessions of this loop that the new process took ({@code moved}) or did not. */
    public void handedOver(List<Handoff.Frozen> sessions, boolean moved) {
        for (Handoff.Frozen f : sessions) {
            if (f.table == this) {
                if (moved) {
                    f.session.handedOver();
                } else {
                    f.session.resume();
                }
            }
        }
    }

    /**
     * Loop thread: relays a session the previous process relayed, on its sockets (attached to this loop here). Its id
     * is kept; this loop's next ids stay clear of it.
     */
    public void adopt(Handoff.Row row, Route front, Route route, io.nioproxy.balance.Backend backend,
                      io.nioproxy.transport.Conn client, io.nioproxy.transport.Conn backendConn) throws java.io.IOException {
        if ((row.id() >>> 40) == loop.index()) {
            nextId = Math.max(nextId, (row.id() & ((1L << 40) - 1)) + 1);
        }
        front.sessionStarted();
        client.attach(loop.poller());
        Session s = new Session(this, front, client, row.id());
        link(s);
        try {
            s.adopt(route, backend, backendConn, row.client(), row.serverName(), row.clientHash(), row.up(),
                    row.down(), loop.now() - row.ageNanos());
        } catch (java.io.IOException | RuntimeException e) {
            s.abandon(); // never a close: the previous process still relays this connection
            throw e;
        }
    }

    private void link(Session s) {
        s.next = head;
        if (head != null) {
            head.prev = s;
        }
        head = s;
        SESSIONS.setRelease(this, ++sessions);
    }

    private void unlink(Session s) {
        if (s.prev != null) {
            s.prev.next = s.next;
        } else if (head == s) {
            head = s.next;
        }
        if (s.next != null) {
            s.next.prev = s.prev;
        }
        s.prev = null;
        s.next = null;
        SESSIONS.setRelease(this, --sessions);
    }

    @Override
    public void afterSelect(long nowNanos) {
        buffers.handOut();
    }

    @Override
    public long nextDeadlineNanos() {
        return buffers.canHandOut() ? loop.now() : Long.MAX_VALUE; // buffers to hand out: do not block
    }

    @Override
    public void shutdown() {
        int n = 0;
        while (head != null) {
            head.close(Session.CloseReason.SHUTDOWN);
            n++;
        }
        if (n > 0) {
            Log.info(loop + ": closed " + n + " sessions at shutdown");
        }
    }

    /** Sessions on this loop, connecting or relaying (any thread). */
    public int sessions() {
        return (int) SESSIONS.getAcquire(this);
    }
}
