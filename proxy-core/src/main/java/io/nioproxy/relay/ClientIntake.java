package io.nioproxy.relay;

import io.nioproxy.config.Protection;
import io.nioproxy.proxyproto.ProxyHeader;
import io.nioproxy.proxyproto.ProxyHeaderException;
import io.nioproxy.proxyproto.ProxyProtocolParser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;

/**
 * A client's first bytes, where a PROXY header may be: read and parsed before anything else for a client in
 * {@code proxy.proxyprotocol.trusted} (its header names the real client), or screened for one for everybody else,
 * who may not send one.
 *
 * <p>Screening holds an untrusted client's first bytes back, unrelayed, while they match the start of a v1 or v2
 * signature: a client chooses how its bytes are segmented, so a prefix cannot be called "not a header". They are
 * relayed once they cannot be a header (or the client ended its input: nothing can follow); a signature closes the
 * session; the header deadline bounds the wait. Bytes that start any other way — every real protocol's — pass on the
 * first read, and a client that never sends a byte is never waited for.
 *
 * <p>Threading: the session's loop thread only.
 */
final class ClientIntake {
    private final Session s;
    /** The client's first bytes are still to be screened for a PROXY header it is not trusted to send. */
    private boolean screening;
    /** The client's first bytes while they match a signature's start (write mode); held, not relayed. */
    private ByteBuffer screened;
    /** Undecided bytes are held: the header deadline runs for them. */
    private boolean waiting;

    ClientIntake(Session session) {
        this.s = session;
    }

    /**
     * Decides what the client's first bytes are for: true when a trusted client's header must be read first (reading
     * is on, the deadline set); false when the session goes on to connect, with the client's bytes screened.
     */
    boolean expectsHeader() {
        Protection protection = s.front.config().protection();
        if (!protection.trustedProxies().isEmpty() && protection.trusted(s.clientAddress.getAddress())) {
            // The balancer behind a network balancer: the client address is in the header, read it first.
            s.timer.phase(s.loop.now() + protection.proxyHeaderTimeoutNanos());
            s.client.setInterest(SelectionKey.OP_READ);
            return true;
        }
        // untrusted, on every listener: nobody else may hand a backend a client address. A listener that routes by
        // server name needs no screening: a PROXY header is not a TLS record, and its hello reader refuses it.
        screening = s.front.sniRoutes() == null;
        return false;
    }

    /** Whether the client's bytes are still being screened (the relay then reads them through {@link #screen}). */
    boolean screening() {
        return screening;
    }

    /** A trusted client's socket is readable: gather its PROXY header (split anywhere), then go on to connect. */
    void readHeader() {
        Leg client = s.client;
        ByteBuffer buf = client.pending;
        if (buf != null) {
            buf.compact(); // pending is kept in read mode; back to write mode to append
        } else if ((buf = bufferOrWait()) == null) {
            return;
        }
        client.pending = null;
        int n = read(buf);
        if (n == RESET) {
            return;
        }
        if (n > 0 && !buf.hasRemaining()) {
            client.conn.readAgain(); // the buffer filled: bytes may be left in the socket
        }
        buf.flip();
        if (n < 0) {
            reject(buf, Session.CloseReason.PROXY_HEADER_REJECTED);
            return;
        }
        ProxyHeader h;
        try {
            h = ProxyProtocolParser.parse(buf, buf.capacity());
        } catch (ProxyHeaderException e) {
            reject(buf, Session.CloseReason.PROXY_HEADER_REJECTED);
            return;
        }
        if (h == null) {
            if (buf.remaining() == buf.capacity()) {
                // a header that does not fit a buffer is refused by the parser's cap anyway
                reject(buf, Session.CloseReason.PROXY_HEADER_REJECTED);
                return;
            }
            client.pending = buf; // read mode; the header deadline keeps running
            return;
        }
        s.timer.phase(Long.MAX_VALUE);
        if (!h.local()) {
            s.clientAddress = h.source();
            s.destinationAddress = h.destination();
        }
        buf.position(buf.position() + h.length());
        if (buf.hasRemaining()) {
            client.pending = buf; // bytes after the header are the client's first payload
            client.bytesIn += buf.remaining();
        } else {
            s.buffers.give(buf);
        }
        client.setInterest(0);
        s.afterHeader();
    }

    /**
     * An untrusted client's socket is readable while screening: read its first bytes and hold them while they match
     * a signature's start; relay them once they cannot be a header, or the client ended; close on a signature.
     */
    void screen() {
        Leg client = s.client;
        ByteBuffer buf = screened;
        screened = null;
        if (buf == null && (buf = bufferOrWait()) == null) {
            return;
        }
        int n = read(buf);
        if (n == RESET) {
            return;
        }
        boolean filled = !buf.hasRemaining();
        buf.flip();
        int verdict = ProxyProtocolParser.signature(buf);
        if (verdict == ProxyProtocolParser.HEADER) {
            reject(buf, Session.CloseReason.PROXY_HEADER_REJECTED);
            return;
        }
        if (verdict == ProxyProtocolParser.UNDECIDED && n >= 0) {
            if (!buf.hasRemaining()) {
                s.buffers.give(buf); // nothing yet: an idle session holds no buffer
                return;
            }
            if (!waiting) { // the first undecided bytes: the header deadline starts
                waiting = true;
                long timeout = s.front.config().protection().proxyHeaderTimeoutNanos();
                s.timer.phase(timeout == 0 ? Long.MAX_VALUE : s.loop.now() + timeout);
            }
            buf.position(buf.limit()).limit(buf.capacity()); // back to write mode, to append the next bytes
            screened = buf;
            return;
        }
        screening = false;
        if (waiting) {
            waiting = false;
            s.timer.phase(Long.MAX_VALUE);
        }
        if (n < 0) {
            s.inputEnded(client);
        }
        s.relayScreened(buf, filled);
    }

    /** {@link #read}: the client reset; the session is closed. */
    private static final int RESET = Integer.MIN_VALUE;

    /** A pooled buffer, or null when the pool is empty: the client then waits for one, reading off. */
    private ByteBuffer bufferOrWait() {
        ByteBuffer buf = s.buffers.take();
        if (buf == null) {
            s.buffers.waitFor(s.client);
            s.client.updateInterest();
        }
        return buf;
    }

    /** Reads the client into {@code buf}: bytes read, -1 at its end, or {@link #RESET} (buffer returned, closed). */
    private int read(ByteBuffer buf) {
        try {
            return s.client.conn.read(buf);
        } catch (IOException e) {
            s.buffers.give(buf);
            s.failed = s.client;
            s.close(Session.CloseReason.RESET);
            return RESET;
        }
    }

    /** Phase deadline: a trusted client's header, or an untrusted client's undecided first bytes, came too late. */
    void timedOut() {
        s.front.proxyRejected.increment();
        s.close(Session.CloseReason.PROXY_HEADER_TIMEOUT);
    }

    private void reject(ByteBuffer buf, Session.CloseReason reason) {
        s.buffers.give(buf);
        s.front.proxyRejected.increment();
        s.close(reason);
    }

    /** The session closed: give back a held buffer. */
    void release() {
        if (screened != null) {
            s.buffers.give(screened);
            screened = null;
        }
    }
}
