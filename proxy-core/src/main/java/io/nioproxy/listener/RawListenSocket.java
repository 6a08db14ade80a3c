package io.nioproxy.listener;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;

import java.io.IOException;
import java.net.BindException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;

/**
 * A listening socket for an epoll loop, made with socket/setsockopt/bind/listen: the same options as the java.nio
 * listener (SO_REUSEADDR, SO_REUSEPORT per loop, the listener's buffer sizes, which accepted sockets inherit).
 *
 * <p>Threading: the start-up thread; the descriptor then belongs to one loop.
 */
final class RawListenSocket {
    final int fd;
    final InetSocketAddress bound;

    private RawListenSocket(int fd, InetSocketAddress bound) {
        this.fd = fd;
        this.bound = bound;
    }

    static RawListenSocket open(InetSocketAddress at, ListenerConfig c, boolean reusePort, int backlog)
            throws IOException {
        Linux.Calls sys = Linux.calls();
        int domain = at.getAddress() instanceof Inet4Address ? Linux.AF_INET : Linux.AF_INET6;
        int fd = sys.socket(domain, Linux.SOCK_STREAM | Linux.SOCK_NONBLOCK | Linux.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new IOException("socket failed: errno " + sys.errno());
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
                throw new IOException("getsockname failed: errno " + sys.errno());
            }
            return new RawListenSocket(fd, SockAddr.decode(addr));
        } catch (IOException | RuntimeException e) {
            sys.close(fd);
            throw e;
        }
    }

    private static void check(Linux.Calls sys, int result, String what) throws IOException {
        if (result < 0) {
            throw new IOException(what + " failed: errno " + sys.errno());
        }
    }
}
