package io.nioproxy.transport.epoll;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.sys.Linux;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.ListenSocket;
import io.nioproxy.transport.Poller;
import io.nioproxy.transport.Transport;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * Direct Linux calls through the JDK's foreign-function API ({@link Linux}; JDK 22+ on Linux): epoll, accept4,
 * socket, connect, read, write on bare descriptors. The same relay as java.nio's with about half the system calls
 * per connection (docs/decisions/0001-epoll-through-ffm.md).
 *
 * <p>Threading: stateless; any thread.
 */
public final class EpollTransport implements Transport {
    public static final EpollTransport INSTANCE = new EpollTransport();

    private EpollTransport() {
    }

    @Override
    public Poller newPoller() throws IOException {
        return new EpollPoller(Linux.calls());
    }

    @Override
    public ListenSocket listen(InetSocketAddress at, ListenerConfig config, boolean reusePort) throws IOException {
        return EpollListenSocket.open(at, config, reusePort);
    }

    @Override
    public Conn adoptConnected(int fd, InetSocketAddress remote) {
        return new EpollConn(fd, remote, true); // its options came with it from the process that set them
    }

    @Override
    public ListenSocket adopt(int fd, ListenerConfig config) throws IOException {
        return EpollListenSocket.adopt(fd, config);
    }

    @Override
    public String toString() {
        return "epoll";
    }
}
