package io.nioproxy.relay;

import io.nioproxy.balance.Backend;
import io.nioproxy.balance.BalancePolicy;
import io.nioproxy.balance.Hashing;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.proxyproto.ProxyProtocolEncoder;
import io.nioproxy.transport.Conn;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;

/**
 * A session's way to its backend, before relaying: admits the client under the per-client limits, hashes its
 * address, then tries backends in the client's own preference order — each connect non-blocking, bounded by
 * {@code proxy.connect.timeout}, up to {@code proxy.connect.attempts} — and, once one answers, sends it the PROXY
 * header if the listener is set to. A connect that cannot even start for a local reason (out of descriptors or
 * ports) closes the client without blaming the backend.
 *
 * <p>Threading: the session's loop thread only.
 */
final class Connector {
    private final Session s;
    private Backend[] tried;
    private int attempts;
    /** The target backend counts this session as active (from connect start to close). */
    private boolean reserved;
    /** A per-client limit slot is held, under this client-address hash. */
    private boolean limitHeld;
    private long limitKey;
    private long startNanos;

    Connector(Session session) {
        this.s = session;
    }

    /** The client address is known: apply the per-client limits, hash it, connect. */
    void admitAndConnect() {
        Route route = s.route;
        BalancePolicy policy = route.balancer().policy();
        long addressHash = Hashing.clientHash(s.clientAddress.getAddress(), -1);
        Route front = s.front; // per-client limits are the accepting listener's
        if (front.clientLimiter.enabled()) {
            if (!front.clientLimiter.tryAcquire(addressHash, s.loop.now())) {
                front.limited.increment();
                s.close(Session.CloseReason.LIMITED);
                return;
            }
            limitHeld = true;
            limitKey = addressHash;
        }
        if (policy == BalancePolicy.SOURCE_IP) {
            s.clientHash = addressHash;
        } else if (policy == BalancePolicy.SOURCE_IP_PORT) {
            s.clientHash = Hashing.clientHash(s.clientAddress.getAddress(), s.clientAddress.getPort());
        }
        next();
    }

    /** Tries backends in preference order until a connect is under way or succeeded, or none is left. */
    private void next() {
        ListenerConfig c = s.route.config();
        Leg backend = s.backend;
        while (s.connecting()) {
            Backend b = attempts >= c.connectAttempts() ? null
                    : s.route.balancer().pick(s.clientHash, tried, attempts, s.loop.now());
            if (b == null) {
                s.route.noBackend.increment();
                s.close(attempts == 0 ? Session.CloseReason.NO_BACKEND : Session.CloseReason.CONNECT_FAILED);
                return;
            }
            if (tried == null) {
                tried = new Backend[c.connectAttempts()];
            }
            tried[attempts++] = b;
            s.target = b;
            b.reserve();
            reserved = true;
            startNanos = s.loop.now();
            Conn ch;
            try {
                ch = s.loop.poller().openBackend(b.address(), c);
            } catch (IOException | RuntimeException e) {
                // Out of descriptors here, not a fault of the backend: no blame for it (passive health would
                // otherwise take healthy backends out), no retry that would fail the same way; the client goes.
                s.localFailure("cannot open a socket toward " + b.identity(), e);
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
                    s.timer.phase(c.connectTimeoutNanos() == 0 ? Long.MAX_VALUE
                            : s.loop.now() + c.connectTimeoutNanos());
                }
                return;
            } catch (java.net.BindException e) {
                // EADDRNOTAVAIL: out of local ports toward this backend — ours to fix, not the backend's
                s.localFailure("no local port toward " + b.identity(), e);
                s.closeChannel(backend, false);
                backend.conn = null;
                s.target.unreserve();
                reserved = false;
                localFailure();
                return;
            } catch (IOException | RuntimeException e) {
                failed();
            }
        }
    }

    /** A connect could not even start for a local reason (descriptors, ports): close the client, count it. */
    private void localFailure() {
        if (reserved) {
            s.target.unreserve();
            reserved = false;
        }
        s.route.localFailures.increment();
        s.close(Session.CloseReason.CONNECT_FAILED);
    }

    /** The backend socket became writable (or failed) while connecting. */
    void onConnectable() {
        try {
            if (s.backend.conn.finishConnect()) {
                s.timer.phase(Long.MAX_VALUE);
                connected();
            }
        } catch (IOException e) {
            s.timer.phase(Long.MAX_VALUE);
            failed();
            next();
        }
    }

    /** The current attempt passed its deadline: the next backend. */
    void timedOut() {
        s.route.connectTimeouts.increment();
        failed();
        next();
    }

    private void failed() {
        s.target.connectFailed();
        s.target.unreserve();
        reserved = false;
        s.route.connectFailures.increment();
        s.closeChannel(s.backend, false);
        s.backend.conn = null;
    }

    private void connected() {
        int send = s.route.config().protection().sendProxy();
        if (send != 0 && !sendProxyHeader(send)) {
            return;
        }
        s.target.sessionOpened();
        s.route.balancer().connected(s.clientHash, s.target, s.loop.now());
        s.route.recordConnectTime(s.loop.index(), System.nanoTime() - startNanos);
        s.startRelaying();
    }

    /**
     * Writes the PROXY header to a just-connected backend, before any client byte. A fresh connection's send buffer
     * is empty, so a header of at most 52 bytes is taken whole; if it ever is not, the session is closed rather than
     * let the backend see a torn header.
     */
    private boolean sendProxyHeader(int version) {
        try {
            InetSocketAddress dst = s.destinationAddress != null ? s.destinationAddress
                    : s.client.conn.localAddress();
            byte[] header = version == 1 ? ProxyProtocolEncoder.v1(s.clientAddress, dst)
                    : ProxyProtocolEncoder.v2(s.clientAddress, dst);
            ByteBuffer b = ByteBuffer.wrap(header);
            s.backend.conn.write(b);
            if (b.hasRemaining()) {
                s.close(Session.CloseReason.ERROR);
                return false;
            }
            return true;
        } catch (IOException e) {
            s.failed = s.backend;
            s.close(Session.CloseReason.RESET);
            return false;
        }
    }

    /** A session adopted in a take-over: it counts on its backend as any session does (no per-client slot). */
    void adopted(Backend b) {
        b.reserve();
        reserved = true;
    }

    /** The session closed: give back what it held (the backend's active count, the per-client slot). */
    void release() {
        if (reserved) {
            s.target.sessionClosed();
            reserved = false;
        }
        if (limitHeld) {
            s.front.clientLimiter.release(limitKey);
            limitHeld = false;
        }
    }
}
