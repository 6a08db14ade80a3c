package io.nioproxy.relay;

import io.nioproxy.transport.Conn;
import io.nioproxy.transport.IoHandler;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;

/**
 * One socket of a {@link Session} — the client side or the backend side — and the state of the bytes that flow
 * <em>out of</em> it. It is its socket's event handler, so a ready event lands directly on the right side with no
 * lookup.
 *
 * <p>Threading: the owning loop's thread only.
 */
final class Leg implements IoHandler {
    final Session session;
    final boolean isClient;
    Leg peer;
    /** The socket; null before the backend connect starts and after a failed attempt. */
    Conn conn;
    /** Interest ops last given to {@link #conn}; compared before every change so that no call is made for nothing. */
    int interest;
    /** Bytes read from this socket and not yet written to the peer (read mode); null when none is in flight. */
    ByteBuffer pending;
    /** This socket's input ended (read returned -1): never read it again — OP_READ stays off (Netty PR 7801). */
    boolean inputEnded;
    /** {@code shutdownOutput()} was done on this socket: the FIN from the peer has been carried. */
    boolean outputShut;
    /**
     * The direction out of this socket has lost its destination (a write to the peer failed): what it still sends is
     * read and dropped until its end of stream, so that closing it never resets the direction into it.
     */
    boolean discard;
    /** Waiting in the loop's queue for a free buffer; reading is off until one comes. */
    boolean waitingForBuffer;
    /**
     * Regular buffers this direction filled in a row; at {@link #FULL_READS_FOR_BULK} its reads use bulk buffers
     * until one read returns less than a regular buffer would hold (Netty's adaptive receive buffer, in two sizes):
     * a bulk transfer then costs a quarter of the system calls, a WebSocket never leaves regular buffers.
     */
    int fullReads;
    static final int FULL_READS_FOR_BULK = 2;
    /** Bytes read from this socket (and so written, or about to be, to the peer). */
    long bytesIn;

    Leg(Session session, boolean isClient) {
        this.session = session;
        this.isClient = isClient;
    }

    @Override
    public void onReady(int readyOps) {
        session.onReady(this, readyOps);
    }

    @Override
    public void onFailure(Throwable cause) {
        session.close(Session.CloseReason.ERROR);
    }

    /** Sets the interest now, whatever the flow state says (header reading, connecting). */
    void setInterest(int ops) {
        if (ops != interest && conn != null) {
            interest = ops;
            try {
                conn.interest(ops);
            } catch (IOException e) {
                session.close(Session.CloseReason.ERROR);
            }
        }
    }

    /** Recomputes and applies this socket's interest ops from the flow state. */
    void updateInterest() {
        int ops = 0;
        if (!inputEnded && pending == null && !waitingForBuffer) {
            ops = SelectionKey.OP_READ;
        }
        if (peer.pending != null) {
            ops |= SelectionKey.OP_WRITE;
        }
        setInterest(ops);
    }
}
