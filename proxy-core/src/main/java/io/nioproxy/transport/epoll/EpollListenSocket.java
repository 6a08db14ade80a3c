package io.nioproxy.transport.epoll;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.ListenSocket;
import io.nioproxy.transport.Poller;

import java.io.IOException;
import java.net.BindException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;

/**
 * A listening socket for an epoll loop, made with socket/setsockopt/bind/listen: the same options as the java.nio
 * listener (SO_REUSEADDR, SO_REUSEPORT per loop, the listener's buffer sizes, which accepted sockets inherit), and
 * read with accept4: the accepted socket comes out non-blocking, its peer address with it. Level-triggered: the
 * listener is reported again on the next turn while clients wait.
 *
 * <p>Threading: the start-up thread; from {@link #register} on, its loop's thread only.
 */
final class EpollListenSocket implements ListenSocket {
    /**
     * One accept per readiness event, as nginx does by default ({@code multi_accept off}). Level-triggered epoll
     * reports the listener again on the next turn while clients wait, so a batch would only add the accept4 that
     * returns EAGAIN at its end — one system call in every connection's cost.
     */
    private static final int ACCEPTS_PER_EVENT = 1;

    private final int fd;
    private final InetSocketAddress bound;
    private final boolean noDelay;
    /** Where accept4 writes the client's address. */
    private final ByteBuffer peer = ByteBuffer.allocateDirect(SockAddr.CAPACITY);
    private EpollPoller poller;
    /** Whether accepted sockets come with the listener's TCP_NODELAY (-1: not known yet). */
    private int noDelayInherited = -1;
    private boolean closed;

    private EpollListenSocket(int fd, InetSocketAddress bound, boolean noDelay) {
        this.fd = fd;
        this.bound = bound;
        this.noDelay = noDelay;
    }

    static EpollListenSocket open(InetSocketAddress at, ListenerConfig c, boolean reusePort) throws IOException {
        int backlog = c.backlog();
        Linux.Calls sys = Linux.calls();
        int domain = at.getAddress() instanceof Inet4Address ? Linux.AF_INET : Linux.AF_INET6;
        int fd = sys.socket(domain, Linux.SOCK_STREAM | Linux.SOCK_NONBLOCK | Linux.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new IOException("socket failed: " + Linux.strerror(sys.errno()));
        }
        try {
            check(sys, sys.setIntOption(fd, Linux.SOL_SOCKET, Linux.SO_REUSEADDR, 1), "SO_REUSEADDR");
            if (reusePort) {
                check(sys, sys.setIntOption(fd, Linux.SOL_SOCKET, Linux.SO_REUSEPORT, 1), "SO_REUSEPORT");
            }
            if (c.tcpNoDelay()) {
                // accepted sockets inherit it on Linux (java.nio cannot set it on a listener, so there it costs a
                // setsockopt per client); the acceptor checks the first accepted socket before relying on it
                check(sys, sys.setIntOption(fd, Linux.IPPROTO_TCP, Linux.TCP_NODELAY, 1), "TCP_NODELAY");
            }
            if (c.socketRcvBufBytes() > 0) {
                check(sys, sys.setIntOption(fd, Linux.SOL_SOCKET, Linux.SO_RCVBUF, c.socketRcvBufBytes()), "SO_RCVBUF");
            }
            if (c.socketSndBufBytes() > 0) {
                check(sys, sys.setIntOption(fd, Linux.SOL_SOCKET, Linux.SO_SNDBUF, c.socketSndBufBytes()), "SO_SNDBUF");
            }
            ByteBuffer addr = ByteBuffer.allocateDirect(SockAddr.CAPACITY);
            int len = SockAddr.encode(at, addr);
            if (sys.bind(fd, Linux.positionAddress(addr.clear()), len) < 0) {
                throw new BindException(Linux.strerror(sys.errno()));
            }
            check(sys, sys.listen(fd, backlog), "listen");
            if (sys.getsockname(fd, Linux.positionAddress(addr.clear()), SockAddr.CAPACITY) < 0) {
                throw new IOException("getsockname failed: " + Linux.strerror(sys.errno()));
            }
            return new EpollListenSocket(fd, SockAddr.decode(addr), c.tcpNoDelay());
        } catch (IOException | RuntimeException e) {
            sys.close(fd);
            throw e;
        }
    }

    /** A socket bound and listening in another process, received with SCM_RIGHTS (its options came with it). */
    static EpollListenSocket adopt(int fd, ListenerConfig c) throws IOException {
        Linux.Calls sys = Linux.calls();
        ByteBuffer addr = ByteBuffer.allocateDirect(SockAddr.CAPACITY);
        if (sys.getsockname(fd, Linux.positionAddress(addr.clear()), SockAddr.CAPACITY) < 0) {
            throw new IOException("getsockname of an inherited socket failed: " + Linux.strerror(sys.errno()));
        }
        return new EpollListenSocket(fd, SockAddr.decode(addr), c.tcpNoDelay());
    }

    @Override
    public int nativeFd() {
        return fd;
    }

    private static void check(Linux.Calls sys, int result, String what) throws IOException {
        if (result < 0) {
            throw new IOException(what + " failed: " + Linux.strerror(sys.errno()));
        }
    }

    @Override
    public InetSocketAddress localAddress() {
        return bound;
    }

    @Override
    public void register(Poller poller, IoHandler handler) throws IOException {
        this.poller = (EpollPoller) poller;
        this.poller.register(fd, handler, false);
        this.poller.interest(fd, SelectionKey.OP_ACCEPT);
    }

    @Override
    public void accepting(boolean on) throws IOException {
        if (!closed) {
            poller.interest(fd, on ? SelectionKey.OP_ACCEPT : 0);
        }
    }

    @Override
    public Conn accept() throws IOException {
        Linux.Calls sys = poller.sys();
        long addr = Linux.positionAddress(peer.clear());
        while (!closed) {
            int client = sys.accept4(fd, addr, SockAddr.CAPACITY, Linux.SOCK_NONBLOCK | Linux.SOCK_CLOEXEC);
            if (client >= 0) {
                if (noDelayInherited < 0 && noDelay) {
                    noDelayInherited = sys.getIntOption(client, Linux.IPPROTO_TCP, Linux.TCP_NODELAY) > 0 ? 1 : 0;
                }
                return new EpollConn(client, SockAddr.decode(peer), noDelayInherited == 1);
            }
            int errno = sys.errno();
            if (errno == Linux.EAGAIN) {
                return null;
            }
            if (errno != Linux.EINTR && errno != Linux.ECONNABORTED) { // ECONNABORTED: the client left the backlog
                throw new IOException(Linux.strerror(errno));
            }
        }
        return null;
    }

    @Override
    public int acceptsPerEvent() {
        return ACCEPTS_PER_EVENT;
    }

    /** The descriptor is the loop's to close (an event for it may be in flight in this batch). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (poller != null) {
            poller.close(fd);
        } else {
            Linux.calls().close(fd);
        }
    }
}
