package io.nioproxy.relay;

import io.nioproxy.balance.Backend;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.transport.Conn;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;

/**
 * One client connection and the backend connection opened for it: the unit of work of the balancer (HAProxy calls
 * it a stream). Its phases before relaying have their own classes — {@link ClientIntake} (a PROXY header read or
 * screened for) and {@link Connector} (a backend chosen and connected, with retries) — and {@link SessionTimer}
 * keeps its deadlines; what is here is the relay: bytes both ways, unchanged, until both directions have ended.
 *
 * <h2>The data path</h2>
 * A readable socket is read into a buffer taken from the loop's pool, and the <em>same</em> buffer is written to the
 * other socket at once — no copy. If the write takes everything, the buffer goes straight back to the pool (an idle
 * session holds none). If it does not, the buffer stays as the source leg's {@code pending}, reading from the source
 * stops, and the sink waits for {@code OP_WRITE}: backpressure by interest ops, at most one buffer per direction.
 *
 * <h2>Endings</h2>
 * A FIN from one side becomes {@code shutdownOutput()} on the other once its pending bytes are written; the other
 * direction keeps flowing. The session closes when both directions have been shut this way. A read error (a reset)
 * on either side closes both, the other with {@code SO_LINGER 0} so that the reset is carried as a reset and never
 * disguised as a clean end of stream.
 *
 * <p>A <em>write</em> error ends only the direction it happened on ({@link #outputFailed}): the bytes still coming
 * toward the dead socket are read and dropped, and the other direction goes on to its own end. A backend that sent
 * its whole reply and its FIN, then closed, resets the client's next line — its reply must still reach the client
 * whole and end with a FIN, not be cut by a reset (Envoy PR 45267 fixed the same class of bug). Reading the failed
 * socket tells which it was: the bytes queued before the error and then the end of stream (a completed direction),
 * or a read error (a direction cut short, carried as a reset).
 *
 * <p>Threading: created and used only on its loop's thread.
 */
public final class Session {
    /** Reads per readiness event when each read fills a whole buffer (bounds one session's share of a turn). */
    static final int MAX_READS_PER_EVENT = 16;

    /** Waiting for a trusted client's PROXY header. */
    static final int HEADER = 0;
    static final int CONNECTING = 1;
    static final int RELAYING = 2;
    static final int CLOSED = 3;
    /** Waiting for the client's TLS ClientHello, on a listener that routes by server name. */
    static final int HELLO = 4;
    /** Frozen for a take-over: neither socket is read or written until it is handed over or resumes. */
    static final int HANDING = 5;

    /** Why a session ended: the {@code end=} field of the access log and the {@code reason} label of the metrics. */
    public enum CloseReason {
        /** Both directions ended; the client sent the first FIN. */
        CLIENT_CLOSED,
        /** Both directions ended; the backend sent the first FIN. */
        BACKEND_CLOSED,
        /** Both directions ended (resolved to one of the two above at close). */
        COMPLETED,
        CLIENT_RESET,
        BACKEND_RESET,
        /** A reset on a side not known (resolved at close). */
        RESET,
        /** No backend in rotation. */
        NO_BACKEND,
        /** Every connect attempt failed. */
        CONNECT_FAILED,
        IDLE_TIMEOUT,
        DRAINED,
        BACKEND_DOWN,
        SHUTDOWN,
        /** Closed through the admin API. */
        ADMIN_CLOSED,
        /** Asked to reconnect so that its client lands on a less loaded backend (a rebalance after scale-out). */
        REBALANCED,
        /** A PROXY header that was malformed, too large, or sent by an untrusted client. */
        PROXY_HEADER_REJECTED,
        /** A trusted client did not send its PROXY header in time. */
        PROXY_HEADER_TIMEOUT,
        /** On a listener that routes by server name: the client's first bytes are not a TLS handshake. */
        NOT_TLS,
        /** A ClientHello that is malformed, or cut short by the client's end. */
        HELLO_MALFORMED,
        /** A ClientHello over sni.max. */
        HELLO_TOO_LARGE,
        /** No whole ClientHello within sni.timeout. */
        HELLO_TIMEOUT,
        /** A per-client limit (concurrent sessions or connection rate). */
        LIMITED,
        /** One side sent FIN and nothing moved for proxy.halfclosed.timeout. */
        HALF_CLOSED_TIMEOUT,
        /** The session reached proxy.session.max.age. */
        MAX_AGE,
        /** Handed, sockets and all, to the process that took over from this one: it goes on there. */
        HANDED_OVER,
        /** A bug caught by the loop. */
        ERROR;

        private final String label = name().toLowerCase(java.util.Locale.ROOT);

        public String label() {
            return label;
        }
    }

    /** The listener that accepted the session: its limits, timeouts and PROXY-header rules apply throughout. */
    final Route front;
    /** Where the session's backend comes from: {@link #front}, or the pool its server name routed it to. */
    Route route;
    /** The server name of its ClientHello, on a listener that routes by name (null otherwise, or none sent). */
    String serverName;
    /** Its ClientHello was read and routed it (to a pool, or the listener's own backends as the fallback). */
    boolean routedByName;
    final EventLoop loop;
    final LoopBuffers buffers;
    private final SessionTable table;
    final Leg client = new Leg(this, true);
    final Leg backend = new Leg(this, false);
    final SessionTimer timer;
    private final ClientIntake intake = new ClientIntake(this);
    private final Connector connector = new Connector(this);
    /** Created for a session of a listener that routes by server name. */
    private HelloIntake hello;
    int state = CONNECTING;
    long clientHash;
    Backend target;
    /** The address the client connected to, as a PROXY header carried it (null: the socket's own). */
    InetSocketAddress destinationAddress;
    long lastActiveNanos;
    long startNanos;
    final long id;
    InetSocketAddress clientAddress;
    /** The leg whose FIN came first (client or backend), for the end reason; null while none has. */
    Leg firstFin;
    /** The leg on which an I/O error (a reset) happened. */
    Leg failed;
    /** Links of the loop's {@link SessionTable} (intrusive: adding and removing allocate nothing). */
    Session prev;
    Session next;

    Session(SessionTable table, Route route, Conn clientConn, long id) {
        this.table = table;
        this.loop = table.loop();
        this.buffers = table.buffers();
        this.id = id;
        this.front = route;
        this.route = route;
        this.startNanos = loop.now();
        this.lastActiveNanos = startNanos;
        this.timer = new SessionTimer(this, loop, table.interimNanos());
        client.peer = backend;
        backend.peer = client;
        client.conn = clientConn;
    }

    /** Registers the client socket and starts the first backend connect (or waits for a PROXY header first). */
    void start() {
        try {
            client.conn.register(client);
            clientAddress = client.conn.remoteAddress();
        } catch (IOException | RuntimeException e) {
            close(CloseReason.ERROR);
            return;
        }
        if (intake.expectsHeader()) {
            state = HEADER;
            return;
        }
        timer.arm(); // a maximum age runs from here
        afterHeader();
    }

    /**
     * No PROXY header to read, or the trusted client's header gave its address: read the ClientHello first on a
     * listener that routes by server name; connect at once on any other.
     */
    void afterHeader() {
        SniRoutes routes = front.sniRoutes();
        if (routes != null) {
            state = HELLO;
            hello = new HelloIntake(this);
            hello.begin(routes);
            return;
        }
        state = CONNECTING;
        connector.admitAndConnect();
    }

    /** From {@link HelloIntake}: the hello named {@code name} (or none), which routes to {@code to}; connect. */
    void routed(Route to, String name) {
        serverName = name;
        routedByName = true;
        if (to != front) {
            route = to;
            to.poolSessionStarted();
        }
        state = CONNECTING;
        connector.admitAndConnect();
    }

    /** The loop's ClientHello reader (one per loop: its scratch is reused). */
    io.nioproxy.tls.ClientHelloParser helloParser() {
        return table.helloParser();
    }

    /**
     * A take-over may move this session now: relaying both ways with nothing read and not yet written, no FIN seen,
     * and sockets another process can hold. What is in flight then is in the kernel's buffers, which move with them.
     */
    boolean transferable() {
        return state == RELAYING && !halfClosed() && client.pending == null && backend.pending == null
                && !client.waitingForBuffer && !backend.waitingForBuffer && !client.discard && !backend.discard
                && target != null && client.conn.nativeFd() >= 0 && backend.conn.nativeFd() >= 0;
    }

    /** Stops reading and writing both sockets (a take-over is sending them): nothing more is read here. */
    void freeze() {
        client.setInterest(0);
        backend.setInterest(0);
        timer.cancel();
        state = HANDING;
    }

    /** The take-over did not take this session: relay on here. */
    void resume() {
        if (state == HANDING) {
            startRelaying();
        }
    }

    /**
     * The new process holds both sockets and relays on: this process lets go of its descriptors (no FIN, no reset)
     * and counts the session as ended here, handed over.
     */
    void handedOver() {
        if (state != HANDING) {
            return;
        }
        state = CLOSED;
        connector.release();
        front.sessionEnded(CloseReason.HANDED_OVER);
        if (route != front) {
            route.poolSessionEnded(CloseReason.HANDED_OVER);
        }
        table.ended(this, CloseReason.HANDED_OVER);
        client.conn.handOver();
        if (backend.conn != null) {
            backend.conn.handOver();
        }
    }

    /**
     * New process: a session that could not be adopted lets go of its descriptors without touching the connection,
     * which the previous process still relays.
     */
    void abandon() {
        state = HANDING;
        handedOver();
    }

    /**
     * A session another process relayed until now, on its sockets: counted here from its first start
     * ({@code startNanos} in this loop's clock), relaying at once. Loop thread.
     */
    void adopt(Route to, Backend b, Conn backendConn, InetSocketAddress clientAddr, String name, long clientKey,
               long up, long down, long startedNanos) throws IOException {
        startNanos = startedNanos;
        clientAddress = clientAddr;
        serverName = name;
        routedByName = name != null;
        if (to != front) {
            route = to;
            to.poolSessionAdopted();
        }
        clientHash = clientKey;
        target = b;
        connector.adopted(b);
        client.bytesIn = up;
        backend.bytesIn = down;
        backend.conn = backendConn;
        backendConn.attach(loop.poller());
        client.conn.register(client);
        backendConn.register(backend);
        startRelaying();
    }

    /** From {@link Connector}: the backend is connected (and has its PROXY header): relay. */
    void startRelaying() {
        state = RELAYING;
        lastActiveNanos = loop.now();
        timer.arm();
        client.updateInterest();
        backend.updateInterest();
    }

    /** From {@link SessionTimer}: the current phase's deadline passed. */
    void phaseTimedOut() {
        if (state == CONNECTING) {
            connector.timedOut();
        } else if (state == HELLO) {
            hello.timedOut();
        } else {
            intake.timedOut(); // a trusted client's header, or an untrusted client's undecided first bytes
        }
    }

    void onReady(Leg leg, int readyOps) {
        if (state == HEADER) {
            if (leg == client && (readyOps & SelectionKey.OP_READ) != 0) {
                intake.readHeader();
            }
            return;
        }
        if (state == HELLO) {
            if (leg == client && (readyOps & SelectionKey.OP_READ) != 0) {
                hello.read();
            }
            return;
        }
        if (state == CONNECTING) {
            if (leg == backend && (readyOps & SelectionKey.OP_CONNECT) != 0) {
                connector.onConnectable();
            }
            return;
        }
        if (state != RELAYING) {
            return;
        }
        if ((readyOps & SelectionKey.OP_WRITE) != 0) {
            flushTo(leg);
        }
        if ((readyOps & SelectionKey.OP_READ) != 0 && state == RELAYING) {
            pump(leg);
        }
    }

    /**
     * Reads from {@code src} and writes to its peer with one buffer, until the socket is drained, the sink is full,
     * or {@link #MAX_READS_PER_EVENT} full buffers have passed.
     */
    void pump(Leg src) {
        if (src.discard) {
            drainDiscarded(src);
            return;
        }
        if (src == client && intake.screening()) {
            intake.screen();
            return;
        }
        if (src.pending != null || src.inputEnded) {
            src.updateInterest();
            return;
        }
        Leg dst = src.peer;
        ByteBuffer buf = buffers.takeFor(src);
        if (buf == null) {
            buffers.waitFor(src);
            src.updateInterest();
            return;
        }
        int reads = 0;
        while (true) {
            int n;
            try {
                n = src.conn.read(buf);
            } catch (IOException e) {
                buffers.give(buf);
                failed = src;
                close(CloseReason.RESET);
                return;
            }
            if (n <= 0) {
                if (n < 0) {
                    inputEnded(src);
                }
                break;
            }
            src.bytesIn += n;
            if (n >= buffers.regularBytes()) {
                src.fullReads++; // a regular buffer filled, or a bulk read that a regular buffer could not hold
            } else {
                src.fullReads = 0;
            }
            lastActiveNanos = loop.now();
            buf.flip();
            // These were the source's last bytes (its FIN came with them): the shutdown of dst follows at once
            boolean finNext = src.conn.inputEndsNext();
            try {
                write(dst, buf, finNext);
            } catch (IOException e) {
                buffers.give(buf);
                outputFailed(dst);
                return;
            }
            if (buf.hasRemaining()) {
                src.pending = buf;
                buf = null;
                break;
            }
            buf.clear();
            if (finNext) {
                continue; // that read returns the end of stream without a system call; the FIN goes now, with them
            }
            // A read that did not fill the buffer drained the socket (TCP copies all it has queued): skip the
            // read() that would only return 0. Bytes that arrive later are reported again.
            if (n < buf.capacity()) {
                break;
            }
            if (++reads >= MAX_READS_PER_EVENT) {
                src.conn.readAgain(); // bytes are probably left: come back next turn (edge-triggered sockets)
                break;
            }
        }
        if (buf != null) {
            buffers.give(buf);
        }
        if (src.inputEnded && src.pending == null) {
            shutdownOutput(dst);
            if (state != RELAYING) {
                return;
            }
        }
        src.updateInterest();
        dst.updateInterest();
    }

    /** {@code dst} is writable: write what its peer left pending, then read its peer again if that drained. */
    private void flushTo(Leg dst) {
        Leg src = dst.peer;
        ByteBuffer buf = src.pending;
        if (buf == null) {
            dst.updateInterest();
            return;
        }
        try {
            write(dst, buf, src.inputEnded || src.conn.inputEndsNext());
        } catch (IOException e) {
            outputFailed(dst);
            return;
        }
        if (buf.hasRemaining()) {
            return; // still blocked: interest unchanged (WRITE on dst, no READ on src)
        }
        src.pending = null;
        buffers.give(buf);
        lastActiveNanos = loop.now();
        if (src.inputEnded) {
            shutdownOutput(dst);
            if (state == RELAYING) {
                src.updateInterest();
                dst.updateInterest();
            }
        } else {
            // The source was paused while it had more to send; read it now rather than wait a select turn.
            pump(src);
        }
    }

    /** Carries a FIN: shut the output of {@code dst}; the session ends once both outputs are shut. */
    private void shutdownOutput(Leg dst) {
        if (dst.outputShut) {
            return;
        }
        dst.outputShut = true;
        if (finished()) {
            // The last direction ends: both inputs have been read to their end, so closing now sends the same FIN
            // that shutdown(2) would — one system call fewer per session.
            close(CloseReason.COMPLETED);
            return;
        }
        try {
            dst.conn.shutdownOutput();
        } catch (IOException e) {
            outputFailed(dst);
        }
    }

    /** Every output shut (or lost) and every input read to its end: nothing is left to move or to drain. */
    private boolean finished() {
        return client.outputShut && backend.outputShut && client.inputEnded && backend.inputEnded;
    }

    /**
     * A write (or the FIN) toward {@code dst} failed: the direction into {@code dst} is over, and only it. What its
     * source still sends is read and dropped — never left unread, or closing that socket would reset it and cut
     * whatever of the other direction is still in its send queue. The other direction goes on: reading {@code dst}
     * returns what it sent before the error and then either its end of stream (its direction completed, and is
     * delivered whole with a FIN) or a read error (cut short, and carried as a reset like any other).
     */
    private void outputFailed(Leg dst) {
        Leg src = dst.peer;
        dst.outputShut = true;
        src.discard = true;
        if (src.pending != null) {
            buffers.give(src.pending);
            src.pending = null;
        }
        if (finished()) {
            close(CloseReason.COMPLETED);
            return;
        }
        timer.arm(); // half-closed from here: its timeout applies
        drainDiscarded(src);
        if (state == RELAYING) {
            dst.updateInterest();
            pump(dst); // what dst sent before the error: read it now, its readiness may have been told already
        }
    }

    /** Reads and drops what {@code src} sends after the direction out of it failed, until its end of stream. */
    private void drainDiscarded(Leg src) {
        if (src.inputEnded) {
            src.updateInterest();
            return;
        }
        ByteBuffer buf = buffers.take();
        if (buf == null) {
            buffers.waitFor(src);
            src.updateInterest();
            return;
        }
        int reads = 0;
        try {
            while (true) {
                int n = src.conn.read(buf);
                buf.clear();
                if (n < 0) {
                    src.inputEnded = true;
                    break;
                }
                if (n == 0) {
                    break;
                }
                // not activity: dropped bytes must not keep the session from proxy.halfclosed.timeout
                if (++reads >= MAX_READS_PER_EVENT) {
                    src.conn.readAgain();
                    break;
                }
            }
        } catch (IOException e) {
            // a reset: the direction into src cannot be delivered either
            buffers.give(buf);
            failed = src;
            close(CloseReason.RESET);
            return;
        }
        buffers.give(buf);
        if (src.inputEnded && finished()) {
            close(CloseReason.COMPLETED);
            return;
        }
        src.updateInterest();
    }

    /** {@code src}'s end of stream was read: the session is half-closed from here, and its timeout applies. */
    void inputEnded(Leg src) {
        src.inputEnded = true;
        if (firstFin == null) {
            firstFin = src;
        }
        timer.arm();
    }

    /**
     * From {@link ClientIntake}: the client's first bytes are not a header (or it ended): relay them as the pump
     * would have — written at once, the buffer back to the pool if they all went, and the client read again only if
     * that read filled the buffer (a read that did not drained the socket: another would return nothing).
     *
     * @param filled the last read filled the buffer: more may be waiting in the socket
     */
    void relayScreened(ByteBuffer buf, boolean filled) {
        if (buf.hasRemaining()) {
            client.bytesIn += buf.remaining();
            lastActiveNanos = loop.now();
            try {
                write(backend, buf, client.inputEnded || client.conn.inputEndsNext());
            } catch (IOException e) {
                buffers.give(buf);
                outputFailed(backend);
                return;
            }
            if (buf.hasRemaining()) {
                client.pending = buf; // the backend is full: OP_WRITE on it, reading the client stops
            } else {
                buffers.give(buf);
                if (filled && !client.inputEnded) {
                    pump(client);
                    return;
                }
            }
        } else {
            buffers.give(buf);
        }
        if (client.inputEnded && client.pending == null) {
            shutdownOutput(backend);
        }
        if (state == RELAYING) {
            client.updateInterest();
            backend.updateInterest();
        }
    }

    /** Loop thread, from {@link LoopBuffers}: a buffer is free again for a leg that waited for one. */
    void bufferAvailable(Leg leg) {
        leg.waitingForBuffer = false;
        if (state == RELAYING) {
            pump(leg);
        } else if (state == HEADER && leg == client) {
            client.setInterest(SelectionKey.OP_READ);
            intake.readHeader();
        } else if (state == HELLO && leg == client) {
            client.setInterest(SelectionKey.OP_READ);
            hello.read();
        }
    }

    /** Closes both sockets (with a reset for {@link CloseReason#RESET}/{@code ERROR}) and returns all buffers. */
    public void close(CloseReason reason) {
        if (state == CLOSED || state == HANDING) {
            return; // a frozen session is the take-over's: handed over, or resumed and closable again, in a moment
        }
        if (reason == CloseReason.COMPLETED) {
            reason = firstFin == backend ? CloseReason.BACKEND_CLOSED : CloseReason.CLIENT_CLOSED;
        } else if (reason == CloseReason.RESET) {
            reason = failed == backend ? CloseReason.BACKEND_RESET : CloseReason.CLIENT_RESET;
        }
        boolean reset = reason == CloseReason.CLIENT_RESET || reason == CloseReason.BACKEND_RESET
                || reason == CloseReason.ERROR;
        boolean wasRelaying = state == RELAYING;
        state = CLOSED;
        timer.cancel();
        releaseBuffer(client);
        releaseBuffer(backend);
        intake.release();
        connector.release();
        front.sessionEnded(reason);
        if (route != front) {
            route.poolSessionEnded(reason);
        }
        if (wasRelaying) {
            front.recordSessionDuration(loop.index(), loop.now() - startNanos);
            if (route != front) {
                route.recordSessionDuration(loop.index(), loop.now() - startNanos);
            }
        }
        table.ended(this, reason);
        // the sockets last: a peer that sees the FIN or reset finds the session already counted as ended
        closeChannel(client, reset);
        closeChannel(backend, reset);
    }

    private void releaseBuffer(Leg leg) {
        if (leg.pending != null) {
            buffers.give(leg.pending);
            leg.pending = null;
        }
    }

    /** Closes a leg's socket, with a reset when asked. */
    void closeChannel(Leg leg, boolean reset) {
        Conn conn = leg.conn;
        if (conn == null) {
            return;
        }
        if (reset) {
            conn.resetOnClose();
        }
        conn.close();
        leg.interest = 0;
    }

    /** From {@link Connector}: a connect could not start for a local reason; logged at most once a second per loop. */
    void localFailure(String what, Exception cause) {
        table.localFailure(what, cause);
    }

    /** From {@link SessionTimer}: an interim access-log line. */
    void interimLine(long nowNanos) {
        table.interim(this, nowNanos);
    }

    /** One side has sent FIN, or a direction failed (the other may still flow). */
    boolean halfClosed() {
        return client.inputEnded || backend.inputEnded || client.outputShut || backend.outputShut;
    }

    boolean closed() {
        return state == CLOSED;
    }

    /** The balancer's address on the backend connection; null before it is connected. Snapshots only (a syscall). */
    String backendLocal() {
        if (state != RELAYING || backend.conn == null) {
            return null;
        }
        try {
            InetSocketAddress a = backend.conn.localAddress();
            return a == null ? null : Backend.identityOf(a);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** For {@code /connections}: relaying, hello (waiting for a ClientHello), or connecting (header included). */
    String stateLabel() {
        return state == RELAYING ? "relaying" : state == HELLO ? "hello" : "connecting";
    }

    boolean connecting() {
        return state == CONNECTING;
    }

    public Backend backend() {
        return target;
    }

    public long id() {
        return id;
    }

    /** Where the backend comes from: the listener's own route, or the pool the server name routed to. */
    public Route route() {
        return route;
    }

    /** The listener that accepted the session. */
    public Route front() {
        return front;
    }

    /** The ClientHello's server name, on a listener that routes by name; null otherwise or when none was sent. */
    public String serverName() {
        return serverName;
    }

    public InetSocketAddress clientAddress() {
        return clientAddress;
    }

    /** Bytes from the client to the backend so far. */
    public long bytesUp() {
        return client.bytesIn;
    }

    /** Bytes from the backend to the client so far. */
    public long bytesDown() {
        return backend.bytesIn;
    }

    public boolean relaying() {
        return state == RELAYING;
    }

    /**
     * Writes {@code buf} to {@code dst}, with {@code writeBeforeFin} when dst's shutdown follows at once (the FIN
     * then rides on these bytes).
     */
    private static void write(Leg dst, ByteBuffer buf, boolean finNext) throws IOException {
        if (finNext) {
            dst.conn.writeBeforeFin(buf);
        } else {
            dst.conn.write(buf);
        }
    }
}
