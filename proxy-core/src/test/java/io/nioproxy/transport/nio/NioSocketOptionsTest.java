package io.nioproxy.transport.nio;

import io.nioproxy.config.ListenerConfig;
import org.junit.jupiter.api.Test;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What an accepted client socket and a backend socket end up with, read back from the kernel. */
class NioSocketOptionsTest {

    private static ListenerConfig config(String... kv) {
        return io.nioproxy.testing.Props.listener(kv);
    }

    /** Accepts one loopback connection on a listener opened the way Listener opens it, configured as a client. */
    private static void acceptedOptions(ListenerConfig c, InetAddress at, AcceptedCheck check) throws Exception {
        try (ServerSocketChannel server = NioSocketOptions.openListener(new InetSocketAddress(at, 0), c)) {
            server.bind(new InetSocketAddress(at, 0));
            try (SocketChannel peer = SocketChannel.open(server.getLocalAddress());
                 SocketChannel accepted = server.accept()) {
                NioSocketOptions.applyToClient(accepted, c);
                check.check(accepted, peer);
            }
        }
    }

    interface AcceptedCheck {
        void check(SocketChannel accepted, SocketChannel peer) throws Exception;
    }

    @Test
    void acceptedClientHasNoDelayUnlessTurnedOff() throws Exception {
        acceptedOptions(config(), InetAddress.getByName("127.0.0.1"),
                (accepted, peer) -> assertTrue(accepted.getOption(StandardSocketOptions.TCP_NODELAY)));
        acceptedOptions(config("proxy.tcp.nodelay", "false"), InetAddress.getByName("127.0.0.1"),
                (accepted, peer) -> assertEquals(false, accepted.getOption(StandardSocketOptions.TCP_NODELAY)));
    }

    @Test
    void acceptedClientInheritsTheListenersReceiveBuffer() throws Exception {
        acceptedOptions(config("proxy.socket.rcvbuf", "200000"), InetAddress.getByName("127.0.0.1"),
                (accepted, peer) -> assertTrue(accepted.getOption(StandardSocketOptions.SO_RCVBUF) >= 200_000,
                        "SO_RCVBUF " + accepted.getOption(StandardSocketOptions.SO_RCVBUF)));
    }

    @Test
    void ipv4ListenersAndBackendsUsePlainIpv4Sockets() throws Exception {
        acceptedOptions(config(), InetAddress.getByName("127.0.0.1"), (accepted, peer) -> {
            assertInstanceOf(Inet4Address.class, ((InetSocketAddress) accepted.getRemoteAddress()).getAddress());
            assertInstanceOf(Inet4Address.class, ((InetSocketAddress) accepted.getLocalAddress()).getAddress());
        });
        try (SocketChannel b = NioSocketOptions.openBackend(new InetSocketAddress("127.0.0.1", 1))) {
            // an IPv4 socket has no IPV6_V6ONLY to set and binds only IPv4 addresses
            b.bind(new InetSocketAddress("127.0.0.1", 0));
            assertInstanceOf(Inet4Address.class, ((InetSocketAddress) b.getLocalAddress()).getAddress());
        }
    }

    @Test
    void ipv6ListenersStayIpv6() throws Exception {
        InetAddress v6 = InetAddress.getByName("::1");
        try (ServerSocketChannel probe = ServerSocketChannel.open()) {
            probe.bind(new InetSocketAddress(v6, 0));
        } catch (java.io.IOException noIpv6) {
            org.junit.jupiter.api.Assumptions.abort("no IPv6 loopback on this host: " + noIpv6); // reported as skipped
        }
        acceptedOptions(config(), v6, (accepted, peer) ->
                assertInstanceOf(Inet6Address.class, ((InetSocketAddress) accepted.getRemoteAddress()).getAddress()));
    }
}
