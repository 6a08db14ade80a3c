package io.nioproxy.transport;

import io.nioproxy.config.ListenerConfig;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * One way of driving sockets ({@code proxy.io}): makes the pollers of the event loops and the listening sockets,
 * all of one kind (a socket of one kind is never registered with a poller of another).
 *
 * <p>Threading: stateless; any thread.
 */
public interface Transport {
    /** A poller for one loop. Start-up thread; the poller is then used by that loop's thread only. */
    Poller newPoller() throws IOException;

    /**
     * A listening socket bound to {@code at} with {@code config}'s socket options (buffer sizes, TCP_NODELAY where
     * accepted sockets inherit it) and its backlog. Start-up thread.
     *
     * @param reusePort one of several sockets on the same port, one per loop ({@code SO_REUSEPORT})
     */
    ListenSocket listen(InetSocketAddress at, ListenerConfig config, boolean reusePort) throws IOException;

    /**
     * A listening socket this process received from another (a take-over): already bound and listening, with the
     * options its first owner set. Start-up thread.
     *
     * @throws UnsupportedOperationException when this transport cannot take a raw descriptor (java.nio)
     */
    default Conn adoptConnected(int fd, InetSocketAddress remote) {
        throw new UnsupportedOperationException(this + " cannot adopt a connection: take-over needs proxy.io=epoll");
    }

    /**
     * A listening socket this process received from another (a take-over): already bound and listening, with the
     * options its first owner set. Start-up thread.
     *
     * @throws UnsupportedOperationException when this transport cannot take a raw descriptor (java.nio)
     */
    default ListenSocket adopt(int fd, ListenerConfig config) throws IOException {
        throw new UnsupportedOperationException(this + " cannot adopt a listening socket: take-over needs proxy.io=epoll");
    }

}
