package io.nioproxy.relay;

import io.nioproxy.balance.Backend;
import io.nioproxy.balance.BalancePolicy;
import io.nioproxy.balance.Hashing;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.proxyproto.ProxyHeader;
import io.nioproxy.proxyproto.ProxyHeaderException;
import io.nioproxy.proxyproto.ProxyProtocolEncoder;
import io.nioproxy.proxyproto.ProxyProtocolParser;
import io.nioproxy.transport.Conn;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;

/**
 * One client connection and the backend connection opened for it: the unit of work of the balancer (HAProxy calls
 * it a stream). It picks a backend, connects without blocking (trying the next backend in preference order on
 * failure), then relays bytes both ways unchanged until both directions have ended.
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
 * <h2>Untrusted PROXY headers</h2>
 * A client that is not trusted to send a PROXY header has its first bytes screened ({@link #screenClient}): they
 * are held back, not relayed, while they match the start of a v1 or v2 signature, until enough have arrived to
 * tell, the client ends its input, or the header deadline passes. A signature closes the session.
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
        /** A PROXY header that was malformed, too large, or sent by an untrusted client. */
        PROXY_HEADER_REJECTED,
        /** A trusted client did not send its PROXY header in time. */
        PROXY_HEADER_TIMEOUT,
        /** A per-client limit (concurrent sessions or connection rate). */
        LIMITED,
        /** One side sent FIN and nothing moved for proxy.halfclosed.timeout. */
        HALF_CLOSED_TIMEOUT,
        /** The session reached proxy.session.max.age. */
        MAX_AGE,
        /** A bug caught by the loop. */
        ERROR;

        private final String label = name().toLowerCase(java.util.Locale.ROOT);

        public String label() {
            return label;
        }
    }

    final SessionTable table;
    final Route route;
    final Leg client = new Leg(this, true);
    final Leg backend = new Leg(this, false);
    int state = CONNECTING;
    long clientHash;
    Backend target;
    private Backend[] tried;
    private int attempts;
    /** The target backend counts this session as active (from connect start to close). */
    private boolean reserved;
    /** A per-client limit slot is held, under this client-address hash. */
    private boolean limitHeld;
    private long limitKey;
    /** The client's first bytes are still to be screened for a PROXY header it is not trusted to send. */
    private boolean screening;
    /** The client's first bytes while they match a signature's start (write mode); held, not relayed. */
    private ByteBuffer screened;
    /** The address the client connected to, as a PROXY header carried it (null: the socket's own). */
    InetSocketAddress destinationAddress;
    long connectDeadlineNanos = Long.MAX_VALUE;
    long lastActiveNanos;
    /** When a paced shutdown closes this session; only meaningful once one began. */
    long closeAtNanos = Long.MAX_VALUE;
    final long startNanos;
    final long id;
    final long startMillis;
    InetSocketAddress clientAddress;
    long connectStartNanos;
    long lastInterimNanos;
    /** The leg whose FIN came first (client or backend), for the end reason; null while none has. */
    Leg firstFin;
    /** The leg on which an I/O error (a reset) happened. */
    Leg failed;
    // intrusive links: every session of the loop, and the sessions still connecting
    Session prev;
    Session next;
    Session connectingPrev;
    Session connectingNext;
    boolean inConnectingList;

    Session(SessionTable table, Route route, Conn clientConn, long nowNanos, long id) {
        this.table = table;
        this.id = id;
        this.startMillis = System.currentTimeMillis();
        this.lastInterimNanos = nowNanos;
        this.route = route;
        client.peer = backend;
        backend.peer = client;
        client.conn = clientConn;
        this.startNanos = nowNanos;
        this.lastActiveNanos = nowNanos;
    }

    /** Registers the client socket and starts the first backend connect (or waits for a PROXY header first). */
    void start() {
        var protection = route.config().protection();
        try {
            client.conn.register(client);
            clientAddress = client.conn.remoteAddress();
        } catch (IOException | RuntimeException e) {
            close(CloseReason.ERROR);
            return;
        }
        if (!protection.trustedProxies().isEmpty()) {
            if (protection.trusted(clientAddress.getAddress())) {
                // The balancer behind a network balancer: the client address is in the header, read it first.
                state = HEADER;
                connectDeadlineNanos = table.loop().now() + protection.proxyHeaderTimeoutNanos();
                table.addConnecting(this);
                client.setInterest(SelectionKey.OP_READ);
                return;
            }
        }
        screening = true; // untrusted, on every listener: nobody else may hand a backend a client address
        admitAndConnect();
    }

    /** The client address is known: apply the per-client limits, hash it, connect. */
    private void admitAndConnect() {
        BalancePolicy policy = route.balancer().policy();
        long addressHash = Hashing.clientHash(clientAddress.getAddress(), -1);
        if (route.clientLimiter.enabled()) {
            if (!route.clientLimiter.tryAcquire(addressHash, table.loop().now())) {
                route.limited.increment();
                close(CloseReason.LIMITED);
                return;
            }
            limitHeld = true;
            limitKey = addressHash;
        }
        if (policy == BalancePolicy.SOURCE_IP) {
            clientHash = addressHash;
        } else if (policy == BalancePolicy.SOURCE_IP_PORT) {
            clientHash = Hashing.clientHash(clientAddress.getAddress(), clientAddress.getPort());
        }
        connectNext();
    }

    /** A trusted client's socket is readable: gather its PROXY header (split anywhere), then go on. */
    private void readProxyHeader() {
        ByteBuffer buf = client.pending;
        if (buf == null) {
            buf = table.takeBuffer();
            if (buf == null) {
                table.waitForBuffer(client);
                client.updateInterest();
                return;
            }
        } else {
            buf.compact(); // pending is kept in read mode; back to write mode to append
        }
        client.pending = null;
        int n;
        try {
            n = client.conn.read(buf);
        } catch (IOException e) {
            table.giveBuffer(buf);
            failed = client;
            close(CloseReason.RESET);
            return;
        }
        if (n > 0 && !buf.hasRemaining()) {
            client.conn.readAgain(); // the buffer filled: bytes may be left in the socket
        }
        buf.flip();
        if (n < 0) {
            table.giveBuffer(buf);
            route.proxyRejected.increment();
            close(CloseReason.PROXY_HEADER_REJECTED);
            return;
        }
        ProxyHeader h;
        try {
            h = ProxyProtocolParser.parse(buf, buf.capacity());
        } catch (ProxyHeaderException e) {
            table.giveBuffer(buf);
            route.proxyRejected.increment();
            close(CloseReason.PROXY_HEADER_REJECTED);
            return;
        }
        if (h == null) {
            if (buf.remaining() == buf.capacity()) {
                table.giveBuffer(buf); // a header that does not fit a buffer is refused by the parser's cap anyway
                route.proxyRejected.increment();
                close(CloseReason.PROXY_HEADER_REJECTED);
                return;
            }
            client.pending = buf; // read mode; the header deadline keeps running
            return;
        }
        table.removeConnecting(this);
        connectDeadlineNanos = Long.MAX_VALUE;
        if (!h.local()) {
            clientAddress = h.source();
            destinationAddress = h.destination();
        }
        buf.position(buf.position() + h.length());
        if (buf.hasRemaining()) {
            client.pending = buf; // bytes after the header are the client's first payload
            client.bytesIn += buf.remaining();
        } else {
            table.giveBuffer(buf);
        }
        state = CONNECTING;
        client.setInterest(0);
        admitAndConnect();
    }

    /** Tries backends in preference order until a connect is under way or succeeded, or none is left. */
    private void connectNext() {
        ListenerConfig c = route.config();
        while (state == CONNECTING) {
            Backend b = attempts >= c.connectAttempts() ? null
                    : route.balancer().pick(clientHash, tried, attempts, table.loop().now());
            if (b == null) {
                route.noBackend.increment();
                close(attempts == 0 ? CloseReason.NO_BACKEND : CloseReason.CONNECT_FAILED);
                return;
            }
            if (tried == null) {
                tried = new Backend[c.connectAttempts()];
            }
            tried[attempts++] = b;
            target = b;
            b.reserve();
            reserved = true;
            connectStartNanos = table.loop().now();
            Conn ch;
            try {
                ch = table.openBackend(b.address(), c);
            } catch (IOException | RuntimeException e) {
                // Out of descriptors here, not a fault of the backend: no blame for it (passive health would
                // otherwise take healthy backends out), no retry that would fail the same way; the client goes.
                localFailure();
                return;
            }
            backend.conn = ch;
            backend.interest = 0;
            try {
                ch.register(backend);
                if (ch.connect(b.address())) {
                    connected();
                } else {
                    backend.setInterest(SelectionKey.OP_CONNECT);
                    connectDeadlineNanos = c.connectTimeoutNanos() == 0 ? Long.MAX_VALUE
                            : table.loop().now() + c.connectTimeoutNanos();
                    table.addConnecting(this);
                }
                return;
            } catch (java.net.BindException e) {
                // EADDRNOTAVAIL: out of local ports toward this backend — ours to fix, not the backend's
                closeChannel(backend, false);
                backend.conn = null;
                target.unreserve();
                reserved = false;
                localFailure();
                return;
            } catch (IOException | RuntimeException e) {
                connectFailed();
            }
        }
    }

    /** A connect could not even start for a local reason (descriptors, ports): close the client, count it. */
    private void localFailure() {
        if (reserved) {
            target.unreserve();
            reserved = false;
        }
        route.localFailures.increment();
        close(CloseReason.CONNECT_FAILED);
    }

    private void finishConnect() {
        try {
            if (backend.conn.finishConnect()) {
                table.removeConnecting(this);
                connected();
            }
        } catch (IOException e) {
            table.removeConnecting(this);
            connectFailed();
            connectNext();
        }
    }

    /** Loop thread, from {@link SessionTable}: the current connect attempt passed its deadline. */
    void connectTimedOut() {
        if (state == HEADER || state == RELAYING) { // RELAYING: first bytes held in screening
            route.proxyRejected.increment();
            close(CloseReason.PROXY_HEADER_TIMEOUT);
            return;
        }
        route.connectTimeouts.increment();
        connectFailed();
        connectNext();
    }

    private void connectFailed() {
        target.connectFailed();
        target.unreserve();
        reserved = false;
        route.connectFailures.increment();
        closeChannel(backend, false);
        backend.conn = null;
        connectDeadlineNanos = Long.MAX_VALUE;
    }

    private void connected() {
        int send = route.config().protection().sendProxy();
        if (send != 0 && !sendProxyHeader(send)) {
            return;
        }
        state = RELAYING;
        target.sessionOpened();
        lastActiveNanos = table.loop().now();
        route.balancer().connected(clientHash, target, lastActiveNanos);
        route.recordConnectTime(table.loop().index(), System.nanoTime() - connectStartNanos);
        client.updateInterest();
        backend.updateInterest();
    }

    /**
     * Writes the PROXY header to a just-connected backend, before any client byte. A fresh connection's send buffer
     * is empty, so a header of at most 52 bytes is taken whole; if it ever is not, the session is closed rather than
     * let the backend see a torn header.
     */
    private boolean sendProxyHeader(int version) {
        try {
            InetSocketAddress dst = destinationAddress != null ? destinationAddress
                    : client.conn.localAddress();
            byte[] header = version == 1 ? ProxyProtocolEncoder.v1(clientAddress, dst)
                    : ProxyProtocolEncoder.v2(clientAddress, dst);
            ByteBuffer b = ByteBuffer.wrap(header);
            backend.conn.write(b);
            if (b.hasRemaining()) {
                close(CloseReason.ERROR);
                return false;
            }
            return true;
        } catch (IOException e) {
            failed = backend;
            close(CloseReason.RESET);
            return false;
        }
    }

    void onReady(Leg leg, int readyOps) {
        if (state == HEADER) {
            if (leg == client && (readyOps & SelectionKey.OP_READ) != 0) {
                readProxyHeader();
            }
            return;
        }
        if (state == CONNECTING) {
            if (leg == backend && (readyOps & SelectionKey.OP_CONNECT) != 0) {
                finishConnect();
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
        if (screening && src == client) {
            screenClient();
            return;
        }
        if (src.pending != null || src.inputEnded) {
            src.updateInterest();
            return;
        }
        Leg dst = src.peer;
        ByteBuffer buf = table.takeBuffer(src);
        if (buf == null) {
            table.waitForBuffer(src);
            src.updateInterest();
            return;
        }
        int reads = 0;
        while (true) {
            int n;
            try {
                n = src.conn.read(buf);
            } catch (IOException e) {
                table.giveBuffer(buf);
                failed = src;
                close(CloseReason.RESET);
                return;
            }
            if (n <= 0) {
                if (n < 0) {
                    src.inputEnded = true;
                    if (firstFin == null) {
                        firstFin = src;
                    }
                }
                break;
            }
            src.bytesIn += n;
            if (n >= table.regularBufferBytes()) {
                src.fullReads++; // a regular buffer filled, or a bulk read that a regular buffer could not hold
            } else {
                src.fullReads = 0;
            }
            lastActiveNanos = table.loop().now();
            buf.flip();
            // These were the source's last bytes (its FIN came with them): the shutdown of dst follows at once
            boolean finNext = src.conn.inputEndsNext();
            try {
                write(dst, buf, finNext);
            } catch (IOException e) {
                table.giveBuffer(buf);
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
            table.giveBuffer(buf);
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
        table.giveBuffer(buf);
        lastActiveNanos = table.loop().now();
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
            table.giveBuffer(src.pending);
            src.pending = null;
        }
        if (finished()) {
            close(CloseReason.COMPLETED);
            return;
        }
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
        ByteBuffer buf = table.takeBuffer();
        if (buf == null) {
            table.waitForBuffer(src);
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
            table.giveBuffer(buf);
            failed = src;
            close(CloseReason.RESET);
            return;
        }
        table.giveBuffer(buf);
        if (src.inputEnded && finished()) {
            close(CloseReason.COMPLETED);
            return;
        }
        src.updateInterest();
    }

    /**
     * The client is not trusted to send a PROXY header (or the listener trusts nobody): read its first bytes and
     * hold them back while they match the start of a signature. Relay them once they cannot be a header (or the
     * client ended: nothing can follow), close the session if they are one. The header deadline bounds the wait.
     */
    private void screenClient() {
        ByteBuffer buf = screened;
        screened = null;
        if (buf == null) {
            buf = table.takeBuffer();
            if (buf == null) {
                table.waitForBuffer(client);
                client.updateInterest();
                return;
            }
        }
        int n;
        try {
            n = client.conn.read(buf);
        } catch (IOException e) {
            table.giveBuffer(buf);
            failed = client;
            close(CloseReason.RESET);
            return;
        }
        buf.flip();
        int verdict = ProxyProtocolParser.signature(buf);
        if (verdict == ProxyProtocolParser.HEADER) {
            table.giveBuffer(buf);
            route.proxyRejected.increment();
            close(CloseReason.PROXY_HEADER_REJECTED);
            return;
        }
        if (verdict == ProxyProtocolParser.UNDECIDED && n >= 0) {
            if (!buf.hasRemaining()) {
                table.giveBuffer(buf); // nothing yet: an idle session holds no buffer
                return;
            }
            if (!inConnectingList) {
                long timeout = route.config().protection().proxyHeaderTimeoutNanos();
                connectDeadlineNanos = timeout == 0 ? Long.MAX_VALUE : table.loop().now() + timeout;
                table.addConnecting(this);
            }
            buf.position(buf.limit()).limit(buf.capacity()); // back to write mode, to append the next bytes
            screened = buf;
            return;
        }
        screening = false;
        table.removeConnecting(this);
        connectDeadlineNanos = Long.MAX_VALUE;
        if (n < 0) {
            client.inputEnded = true;
            if (firstFin == null) {
                firstFin = client;
            }
        }
        if (buf.hasRemaining()) {
            client.bytesIn += buf.remaining();
            lastActiveNanos = table.loop().now();
            client.pending = buf;
            flushTo(backend); // writes them; reads the client on if they all went
        } else {
            table.giveBuffer(buf);
            if (client.inputEnded) {
                shutdownOutput(backend);
            }
        }
        if (state == RELAYING) {
            client.updateInterest();
            backend.updateInterest();
        }
    }

    /** Loop thread, from {@link SessionTable}: a buffer is free again for a leg that waited for one. */
    void bufferAvailable(Leg leg) {
        leg.waitingForBuffer = false;
        if (state == RELAYING) {
            pump(leg);
        } else if (state == HEADER && leg == client) {
            client.setInterest(SelectionKey.OP_READ);
            readProxyHeader();
        }
    }

    /** Closes both sockets (with a reset for {@link CloseReason#RESET}/{@code ERROR}) and returns all buffers. */
    public void close(CloseReason reason) {
        if (state == CLOSED) {
            return;
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
        table.removeConnecting(this);
        releaseBuffer(client);
        releaseBuffer(backend);
        if (screened != null) {
            table.giveBuffer(screened);
            screened = null;
        }
        if (reserved) {
            target.sessionClosed();
            reserved = false;
        }
        if (limitHeld) {
            route.clientLimiter.release(limitKey);
            limitHeld = false;
        }
        route.sessionEnded(reason);
        if (wasRelaying) {
            route.recordSessionDuration(table.loop().index(), table.loop().now() - startNanos);
        }
        table.ended(this, reason);
        table.unlink(this);
        // the sockets last: a peer that sees the FIN or reset finds the session already counted as ended
        closeChannel(client, reset);
        closeChannel(backend, reset);
    }

    private void releaseBuffer(Leg leg) {
        if (leg.pending != null) {
            table.giveBuffer(leg.pending);
            leg.pending = null;
        }
    }

    /** Closes a leg's socket, with a reset when asked. */
    private void closeChannel(Leg leg, boolean reset) {
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

    boolean idleSince(long nowNanos, long idleNanos) {
        return state == RELAYING && nowNanos - lastActiveNanos >= idleNanos;
    }

    /** One side has sent FIN (the other direction may still flow). */
    boolean halfClosed() {
        return client.inputEnded || backend.inputEnded || client.outputShut || backend.outputShut;
    }

    public Backend backend() {
        return target;
    }

    public long id() {
        return id;
    }

    public Route route() {
        return route;
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
