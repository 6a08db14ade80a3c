package io.nioproxy.relay;

import io.nioproxy.config.ListenerConfig;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.channels.NetworkChannel;

/** Applies a listener's socket options to a client or backend socket. Stateless; loop thread or start-up. */
public final class SocketOptions {
    private SocketOptions() {
    }

    /** Options for a connected (or connecting) socket of a session. */
    public static void applyToSession(NetworkChannel ch, ListenerConfig c) throws IOException {
        if (c.tcpNoDelay()) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        var p = c.protection();
        if (p.keepAlive()) {
            // finds peers that vanished without a FIN or RST (a NAT that forgot the flow, a host that lost power)
            ch.setOption(StandardSocketOptions.SO_KEEPALIVE, true);
            if (p.keepAliveIdleSeconds() > 0) {
                ch.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPIDLE, p.keepAliveIdleSeconds());
            }
            if (p.keepAliveIntervalSeconds() > 0) {
                ch.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPINTERVAL, p.keepAliveIntervalSeconds());
            }
            if (p.keepAliveCount() > 0) {
                ch.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPCOUNT, p.keepAliveCount());
            }
        }
        applyBuffers(ch, c);
    }

    /**
     * Buffer sizes. Set on the listening socket too: the receive window scale is fixed by the SYN, so an accepted
     * socket inherits what its listener had.
     */
    public static void applyBuffers(NetworkChannel ch, ListenerConfig c) throws IOException {
        if (c.socketRcvBufBytes() > 0) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, c.socketRcvBufBytes());
        }
        if (c.socketSndBufBytes() > 0 && ch.supportedOptions().contains(StandardSocketOptions.SO_SNDBUF)) {
            ch.setOption(StandardSocketOptions.SO_SNDBUF, c.socketSndBufBytes());
        }
    }
}
