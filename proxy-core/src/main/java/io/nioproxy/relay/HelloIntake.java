package io.nioproxy.relay;

import io.nioproxy.tls.ClientHelloParser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;

/**
 * A client's TLS ClientHello, on a listener that routes by server name: gathered (split anywhere, across records)
 * until the name can be read, then kept whole as the client's first bytes for the backend — read, never consumed —
 * while the session moves to the pool the name routes to and connects.
 *
 * <p>Bounded: the hello must be whole within {@code sni.timeout} and {@code sni.max} bytes (at most one buffer).
 * A client that sends anything but a TLS handshake, a hello that is malformed or cut short, one over the cap, or
 * nothing in time is closed with its own reason, before any backend is chosen. This also refuses a PROXY header from
 * an untrusted client (it is not a TLS record), so no screening for one is needed here.
 *
 * <p>Threading: the session's loop thread only.
 */
final class HelloIntake {
    private final Session s;
    private SniRoutes routes;

    HelloIntake(Session session) {
        this.s = session;
    }

    /**
     * Starts waiting for the hello (reading on, the deadline set) and reads what is already there: a hello may have
     * come with a PROXY header in one segment, and no readiness event announces bytes already read.
     */
    void begin(SniRoutes routes) {
        this.routes = routes;
        s.timer.phase(s.loop.now() + routes.timeoutNanos());
        s.client.setInterest(SelectionKey.OP_READ);
        read();
    }

    /** The client is readable (or bytes are pending from the header): read, and decide once the hello is whole. */
    void read() {
        Leg client = s.client;
        ByteBuffer buf = client.pending;
        if (buf != null) {
            buf.compact(); // pending is kept in read mode; back to write mode to append
        } else if ((buf = s.buffers.take()) == null) {
            s.buffers.waitFor(client);
            client.updateInterest();
            return;
        }
        client.pending = null;
        int n;
        try {
            n = client.conn.read(buf);
        } catch (IOException e) {
            s.buffers.give(buf);
            s.failed = client;
            s.close(Session.CloseReason.RESET);
            return;
        }
        if (n > 0 && !buf.hasRemaining()) {
            client.conn.readAgain(); // the buffer filled: bytes may be left in the socket
        }
        buf.flip();
        ClientHelloParser parser = s.helloParser();
        int answer = parser.parse(buf, Math.min(routes.maxBytes(), buf.capacity()));
        if (answer == ClientHelloParser.NEED_MORE) {
            if (n < 0) {
                reject(buf, Session.CloseReason.HELLO_MALFORMED); // ended before its hello was whole
            } else if (!buf.hasRemaining()) {
                s.buffers.give(buf); // nothing yet: a silent client holds no buffer
            } else {
                client.pending = buf;
            }
            return;
        }
        switch (answer) {
            case ClientHelloParser.NOT_TLS -> reject(buf, Session.CloseReason.NOT_TLS);
            case ClientHelloParser.TOO_LARGE -> reject(buf, Session.CloseReason.HELLO_TOO_LARGE);
            case ClientHelloParser.MALFORMED -> reject(buf, Session.CloseReason.HELLO_MALFORMED);
            default -> {
                String name = answer == ClientHelloParser.FOUND ? parser.serverName() : null;
                s.timer.phase(Long.MAX_VALUE);
                client.pending = buf; // the whole hello and anything after it: the backend's first bytes
                client.bytesIn += buf.remaining();
                client.setInterest(0);
                if (n < 0) {
                    s.inputEnded(client); // a FIN right behind the hello: passed on once the hello is written
                }
                s.routed(routes.of(name), name);
            }
        }
    }

    /** Phase deadline: the hello was not whole in time. */
    void timedOut() {
        s.close(Session.CloseReason.HELLO_TIMEOUT);
    }

    private void reject(ByteBuffer buf, Session.CloseReason reason) {
        s.buffers.give(buf);
        s.close(reason);
    }
}
