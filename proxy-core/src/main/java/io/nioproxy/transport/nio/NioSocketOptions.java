package io.nioproxy.transport.nio;

import io.nioproxy.config.ListenerConfig;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * Opens sockets in the address family they need and applies a listener's socket options to them. Stateless; loop
 * thread or start-up.
 *
 * <p>Every option set here is a system call per socket. Buffer sizes are set once on the listening socket, which
 * accepted sockets inherit them from; TCP_NODELAY is inherited too on Linux, but the JDK does not let a
 * ServerSocketChannel set it, so it is set per accepted socket.
 */
public final class NioSocketOptions {
    private NioSocketOptions() {
    }

    /**
     * The family for sockets to or from {@code address}. The JDK opens dual-stack IPv6 sockets by default, which
     * costs an IPV6_V6ONLY call per socket and a v4-mapped address on every accept and connect; an IPv4 address
     * gets a plain IPv4 socket.
     */
    public static ProtocolFamily familyOf(InetAddress address) {
        return address instanceof Inet4Address ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6;
    }

    /** A listening socket for {@code address}, with the buffer sizes accepted sockets inherit already set. */
    public static ServerSocketChannel openListener(InetSocketAddress address, ListenerConfig c) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open(familyOf(address.getAddress()));
        try {
            applyBuffers(server, c);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** A backend socket toward {@code address}, not yet configured. */
    public static SocketChannel openBackend(InetSocketAddress address) throws IOException {
        return SocketChannel.open(familyOf(address.getAddress()));
    }

    /** Options for an accepted client socket: only what its listener could not give it. */
    public static void applyToClient(SocketChannel ch, ListenerConfig c) throws IOException {
        if (c.tcpNoDelay()) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        applyKeepAlive(ch, c);
    }

    /** Options for a backend socket, before it connects (buffer sizes must precede the SYN). */
    public static void applyToBackend(SocketChannel ch, ListenerConfig c) throws IOException {
        if (c.tcpNoDelay()) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        applyKeepAlive(ch, c);
        applyBuffers(ch, c);
    }

    private static void applyKeepAlive(NetworkChannel ch, ListenerConfig c) throws IOException {
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
    }

    /**
     * Buffer sizes. Set on the listening socket: the receive window scale is fixed by the SYN, so an accepted socket
     * must inherit what its listener had (it does on every kernel the JDK runs on).
     */
    private static void applyBuffers(NetworkChannel ch, ListenerConfig c) throws IOException {
        if (c.socketRcvBufBytes() > 0) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, c.socketRcvBufBytes());
        }
        if (c.socketSndBufBytes() > 0 && ch.supportedOptions().contains(StandardSocketOptions.SO_SNDBUF)) {
            ch.setOption(StandardSocketOptions.SO_SNDBUF, c.socketSndBufBytes());
        }
    }
}
