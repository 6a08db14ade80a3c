package io.nioproxy.relay;

import io.nioproxy.buffer.BufferPool;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.LoopService;
import io.nioproxy.log.Log;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import io.nioproxy.transport.Conn;
import io.nioproxy.balance.Backend;
import io.nioproxy.log.AccessLog;

import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The sessions of one event loop: opens them for accepted sockets, times out their connects and idle periods,
 * hands freed buffers to sessions that waited for one, and closes them all when the loop stops.
 *
 * <p>Sessions are kept in intrusive doubly-linked lists (every session; the ones still connecting), so adding and
 * removing allocate nothing and cost O(1). Connect deadlines are scanned over the connecting list only (short);
 * idle timeouts by a coarse sweep of all sessions every quarter of the shortest idle timeout (at most once a
 * second), which is what a timeout measured in seconds to hours needs.
 *
 * <p>Threading: loop thread only, except the counters read through {@link #sessions()} and {@link #connecting()},
 * which any thread may read (release stores).
 */
public final class SessionTable implements LoopService {
    private static final VarHandle SESSIONS;
    private static final VarHandle CONNECTING;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SESSIONS = l.findVarHandle(SessionTable.class, "sessionCount", int.class);
            CONNECTING = l.findVarHandle(SessionTable.class, "connectingCount", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final EventLoop loop;
    private final BufferPool pool;
    private final BufferPool bulkPool;
    private final long idleSweepNanos;
    private final ArrayDeque<Leg> bufferWaiters = new ArrayDeque<>();
    private Session head;
    private Session connectingHead;
    @SuppressWarnings("unused") // through SESSIONS
    private int sessionCount;
    @SuppressWarnings("unused") // through CONNECTING
    private int connectingCount;
    private int sessions;
    private int connectingSessions;
    private long nextIdleSweepNanos = Long.MAX_VALUE;
    private long nextId = 1;
    /** Bytes of sessions that ended on this loop, per route and per backend: [up, down]. Loop thread only. */
    private final IdentityHashMap<Route, long[]> endedBytesByRoute = new IdentityHashMap<>();
    private final IdentityHashMap<Backend, long[]> endedBytesByBackend = new IdentityHashMap<>();
    private AccessLog accessLog;
    private long interimNanos;
    private long nextInterimSweepNanos = Long.MAX_VALUE;
    /** Paced close at shutdown: each session got a random close time in the window; swept every 10 ms. */
    private boolean pacedClose;
    private static final long PACE_SWEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
    private long nextPaceSweepNanos = Long.MAX_VALUE;

    /**
     * @param shortestIdleTimeoutNanos the shortest idle, half-closed or max-age timeout of any listener on this loop;
     *                                 0 when none has one
     */
    public SessionTable(EventLoop loop, long shortestIdleTimeoutNanos) {
        this.loop = loop;
        this.pool = loop.pool();
        this.bulkPool = loop.bulkPool();
        this.idleSweepNanos = shortestIdleTimeoutNanos == 0 ? 0
                : Math.max(TimeUnit.MILLISECONDS.toNanos(10), Math.min(TimeUnit.SECONDS.toNanos(1), shortestIdleTimeoutNanos / 4));
    }

    EventLoop loop() {
        return loop;
    }

    /** Before the loop starts: where session lines go, and how often long sessions get an interim line (0: never). */
    public void accessLog(AccessLog log, long interimNanos) {
        this.accessLog = log;
        this.interimNanos = log == null ? 0 : interimNanos;
    }

    /** Loop thread, from {@link Session#close}: account the bytes of a session that ended, and log it. */
    void ended(Session s, Session.CloseReason reason) {
        long up = s.client.bytesIn;
        long down = s.backend.bytesIn;
        if (up != 0 || down != 0) {
            long[] r = endedBytesByRoute.computeIfAbsent(s.route, k -> new long[2]);
            r[0] += up;
            r[1] += down;
            if (s.target != null) {
                long[] b = endedBytesByBackend.computeIfAbsent(s.target, k -> new long[2]);
                b[0] += up;
                b[1] += down;
            }
        }
        if (accessLog != null) {
            accessLog.offer(new AccessLog.Entry(System.currentTimeMillis(), false, s.route.config().name(),
                    address(s.clientAddress), s.target == null ? null : s.target.identity(), up, down,
                    (loop.now() - s.startNanos) / 1_000_000, reason.label()));
        }
    }

    private static String address(java.net.InetSocketAddress a) {
        return a == null ? "-" : io.nioproxy.balance.Backend.identityOf(a);
    }

    private void sweepInterim(long nowNanos) {
        for (Session s = head; s != null; s = s.next) {
            if (s.relaying() && nowNanos - s.lastInterimNanos >= interimNanos) {
                s.lastInterimNanos = nowNanos;
                accessLog.offer(new AccessLog.Entry(System.currentTimeMillis(), true, s.route.config().name(),
                        address(s.clientAddress), s.target.identity(), s.client.bytesIn, s.backend.bytesIn,
                        (nowNanos - s.startNanos) / 1_000_000, null));
            }
        }
        nextInterimSweepNanos = nowNanos + Math.min(interimNanos, TimeUnit.SECONDS.toNanos(1));
    }

    /**
     * Loop thread: the traffic of this loop — bytes of ended sessions plus the live sessions' bytes so far — and,
     * when asked, a row per live session. One consistent view per loop: nothing is counted twice or missed.
     */
    public LoopSnapshot snapshot(boolean withSessions, java.util.function.Predicate<Session> filter) {
        LoopSnapshot snap = new LoopSnapshot(loop.index());
        endedBytesByRoute.forEach((r, v) -> snap.add(r, v[0], v[1]));
        endedBytesByBackend.forEach((b, v) -> snap.add(b, v[0], v[1]));
        long now = loop.now();
        for (Session s = head; s != null; s = s.next) {
            long up = s.client.bytesIn;
            long down = s.backend.bytesIn;
            snap.add(s.route, up, down);
            if (s.target != null && s.state != Session.CONNECTING) {
                snap.add(s.target, up, down);
            }
            if (withSessions && (filter == null || filter.test(s))) {
                snap.sessions.add(new LoopSnapshot.SessionRow(s.id, s.route.config().name(), address(s.clientAddress),
                        s.target == null ? null : s.target.identity(), s.relaying() ? "relaying" : "connecting",
                        (now - s.startNanos) / 1_000_000, (now - s.lastActiveNanos) / 1_000_000, up, down));
            }
        }
        return snap;
    }

    /** Loop thread: closes the sessions {@code filter} selects, for {@code reason}; returns how many. */
    public int closeWhere(java.util.function.Predicate<Session> filter, Session.CloseReason reason) {
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

    /** Loop thread: a client socket accepted for {@code route} (here or on another loop); start its session. */
    public void open(Conn conn, Route route) {
        route.accepted.increment();
        route.sessionStarted();
        conn.attach(loop.poller());
        try {
            conn.configureAsClient(route.config());
        } catch (IOException | RuntimeException e) {
            // the client went away between accept and here: nothing to relay
            conn.close();
            route.sessionEnded(Session.CloseReason.CLIENT_RESET);
            return;
        }
        Session s = new Session(this, route, conn, loop.now(), ((long) loop.index() << 40) | nextId++);
        link(s);
        s.start();
    }

    /** Loop thread: a non-blocking backend socket of this loop's kind, options applied, not yet connected. */
    Conn openBackend(java.net.InetSocketAddress address, io.nioproxy.config.ListenerConfig c) throws IOException {
        return loop.poller().openBackend(address, c);
    }

    private void link(Session s) {
        s.next = head;
        if (head != null) {
            head.prev = s;
        }
        head = s;
        SESSIONS.setRelease(this, ++sessions);
        if (idleSweepNanos > 0 && nextIdleSweepNanos == Long.MAX_VALUE) {
            nextIdleSweepNanos = loop.now() + idleSweepNanos;
        }
    }

    void unlink(Session s) {
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

    void addConnecting(Session s) {
        if (s.inConnectingList) {
            return;
        }
        s.inConnectingList = true;
        s.connectingNext = connectingHead;
        if (connectingHead != null) {
            connectingHead.connectingPrev = s;
        }
        connectingHead = s;
        CONNECTING.setRelease(this, ++connectingSessions);
    }

    void removeConnecting(Session s) {
        if (!s.inConnectingList) {
            return;
        }
        s.inConnectingList = false;
        if (s.connectingPrev != null) {
            s.connectingPrev.connectingNext = s.connectingNext;
        } else {
            connectingHead = s.connectingNext;
        }
        if (s.connectingNext != null) {
            s.connectingNext.connectingPrev = s.connectingPrev;
        }
        s.connectingPrev = null;
        s.connectingNext = null;
        CONNECTING.setRelease(this, --connectingSessions);
    }

    ByteBuffer takeBuffer() {
        return pool.take();
    }

    /**
     * A buffer for {@code src}'s next reads: a bulk one while the direction keeps filling regular buffers (and one
     * is free), a regular one otherwise; null when the regular pool is exhausted.
     */
    ByteBuffer takeBuffer(Leg src) {
        if (src.fullReads >= Leg.FULL_READS_FOR_BULK && bulkPool != null) {
            ByteBuffer b = bulkPool.take();
            if (b != null) {
                return b;
            }
        }
        return pool.take();
    }

    /** Size of a regular relay buffer. */
    int regularBufferBytes() {
        return pool.bufferBytes();
    }

    /** Returns a buffer to the pool it came from (told apart by size). */
    void giveBuffer(ByteBuffer buffer) {
        if (bulkPool != null && buffer.capacity() == bulkPool.bufferBytes()) {
            bulkPool.give(buffer);
        } else {
            pool.give(buffer);
        }
    }

    /** {@code leg} found the pool empty: it stops reading until {@link #afterSelect} hands it a free buffer. */
    void waitForBuffer(Leg leg) {
        if (!leg.waitingForBuffer) {
            leg.waitingForBuffer = true;
            bufferWaiters.add(leg);
        }
    }

    @Override
    public void afterSelect(long nowNanos) {
        while (!bufferWaiters.isEmpty() && pool.inUse() < pool.maxBuffers()) {
            Leg leg = bufferWaiters.poll();
            leg.session.bufferAvailable(leg);
        }
        if (connectingHead != null) {
            Session s = connectingHead;
            while (s != null) {
                Session next = s.connectingNext;
                if (nowNanos - s.connectDeadlineNanos >= 0) {
                    removeConnecting(s);
                    s.connectTimedOut();
                }
                s = next;
            }
        }
        if (nowNanos - nextIdleSweepNanos >= 0) {
            sweepIdle(nowNanos);
        }
        if (pacedClose && nowNanos - nextPaceSweepNanos >= 0) {
            sweepPaced(nowNanos);
        }
        if (interimNanos > 0 && head != null) {
            if (nextInterimSweepNanos == Long.MAX_VALUE) {
                nextInterimSweepNanos = nowNanos + Math.min(interimNanos, TimeUnit.SECONDS.toNanos(1));
            } else if (nowNanos - nextInterimSweepNanos >= 0) {
                sweepInterim(nowNanos);
            }
        }
    }

    /** Idle, half-closed and maximum-age timeouts: one pass over the loop's sessions. */
    private void sweepIdle(long nowNanos) {
        Session s = head;
        while (s != null) {
            Session next = s.next;
            var c = s.route.config();
            long idle = c.idleTimeoutNanos();
            long halfClosed = c.protection().halfClosedTimeoutNanos();
            long maxAge = c.protection().maxAgeNanos();
            if (idle > 0 && s.idleSince(nowNanos, idle)) {
                s.close(Session.CloseReason.IDLE_TIMEOUT);
            } else if (halfClosed > 0 && s.halfClosed() && s.idleSince(nowNanos, halfClosed)) {
                s.close(Session.CloseReason.HALF_CLOSED_TIMEOUT);
            } else if (maxAge > 0 && s.state != Session.CLOSED && nowNanos - s.startNanos >= maxAge) {
                s.close(Session.CloseReason.MAX_AGE);
            }
            s = next;
        }
        nextIdleSweepNanos = head == null ? Long.MAX_VALUE : nowNanos + idleSweepNanos;
    }

    /**
     * Loop thread: close every session at a random moment within {@code windowNanos} from now, so that clients
     * reconnecting elsewhere arrive spread out instead of in one storm (the thundering herd a plain close-all makes).
     */
    public void beginPacedClose(long windowNanos, long seed) {
        long now = loop.now();
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        for (Session s = head; s != null; s = s.next) {
            s.closeAtNanos = now + (windowNanos <= 0 ? 0 : random.nextLong(windowNanos));
        }
        pacedClose = true;
        nextPaceSweepNanos = now;
    }

    private void sweepPaced(long nowNanos) {
        Session s = head;
        while (s != null) {
            Session next = s.next;
            if (nowNanos - s.closeAtNanos >= 0) {
                s.close(Session.CloseReason.SHUTDOWN);
            }
            s = next;
        }
        nextPaceSweepNanos = nowNanos + PACE_SWEEP_NANOS;
    }

    @Override
    public long nextDeadlineNanos() {
        long d = Math.min(nextIdleSweepNanos, pacedClose ? nextPaceSweepNanos : Long.MAX_VALUE);
        d = Math.min(d, nextInterimSweepNanos);
        for (Session s = connectingHead; s != null; s = s.connectingNext) {
            d = Math.min(d, s.connectDeadlineNanos); // nanoTime is CLOCK_MONOTONIC on Linux: positive, no wrap
        }
        if (!bufferWaiters.isEmpty() && pool.inUse() < pool.maxBuffers()) {
            d = loop.now(); // do not block: buffers to hand out
        }
        return d;
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

    /** Loop thread: closes every session relaying to {@code backend} (drain deadline, close-on-down). */
    public int closeSessionsOf(io.nioproxy.balance.Backend backend, Session.CloseReason reason) {
        return closeWhere(s -> s.target == backend && s.state == Session.RELAYING, reason);
    }

    /** Sessions on this loop, connecting or relaying (any thread). */
    public int sessions() {
        return (int) SESSIONS.getAcquire(this);
    }

    /** Sessions waiting for their backend connect (any thread). */
    public int connecting() {
        return (int) CONNECTING.getAcquire(this);
    }
}
