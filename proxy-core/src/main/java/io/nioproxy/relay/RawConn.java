package io.nioproxy.relay;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.IoHandler;
import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;

import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;

/**
 * A session socket on an epoll loop: a bare non-blocking descriptor. What it does not do, against
 * {@link NioConn}: no fcntl pair to make it non-blocking (accept4 and socket take SOCK_NONBLOCK), no getsockname
 * at accept and connect, no poll() in finishConnect (the socket is writable: SO_ERROR says how the connect went),
 * no EPOLL_CTL_DEL before close.
 *
 * <p>Threading: its loop's thread only. Created on the accepting loop and handed over in {@code acceptor} mode, but
 * no call is made on it before it reaches its own loop.
 */
public final class RawConn implements Conn {
    private final int fd;
    private EventLoop loop;
    private InetSocketAddress remote;
    private boolean closed;
    /**
     * The next read can only return the end of stream (a short read after a clean FIN): it returns it without the
     * read(2) that would return 0 — one system call fewer for most sessions, whose last bytes and FIN come together.
     */
    private boolean endNext;
    /** TCP_NODELAY is already on (inherited from the listening socket). */
    private final boolean noDelaySet;

    /**
     * @param remote     the peer as accept4 reported it (null for a backend socket until it connects)
     * @param noDelaySet TCP_NODELAY came with the socket (an accepted socket inherits its listener's)
     */
    public RawConn(int fd, InetSocketAddress remote, boolean noDelaySet) {
        this.fd = fd;
        this.remote = remote;
        this.noDelaySet = noDelaySet;
    }

    /** A non-blocking backend socket toward {@code address} on {@code loop}, options applied, not connected. */
    static RawConn openBackend(InetSocketAddress address, ListenerConfig c, EventLoop loop) throws IOException {
        Linux.Calls sys = loop.sys();
        int domain = address.getAddress() instanceof java.net.Inet4Address ? Linux.AF_INET : Linux.AF_INET6;
        int fd = sys.socket(domain, Linux.SOCK_STREAM | Linux.SOCK_NONBLOCK | Linux.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw error("socket", sys.errno());
        }
        RawConn conn = new RawConn(fd, null, false);
        conn.loop = loop;
        try {
            conn.applyOptions(c, c.tcpNoDelay(), true); // buffer sizes before the SYN: they set the window scale
        } catch (IOException | RuntimeException e) {
            sys.close(fd);
            throw e;
        }
        return conn;
    }

    /** Options for an accepted client socket (buffer sizes, and TCP_NODELAY on Linux, come from the listener). */
    void applyClientOptions(ListenerConfig c) throws IOException {
        applyOptions(c, c.tcpNoDelay() && !noDelaySet, false);
    }

    /** The same options {@link SocketOptions} gives a java.nio socket, as setsockopt calls. */
    private void applyOptions(ListenerConfig c, boolean noDelay, boolean buffers) throws IOException {
        if (noDelay) {
            option(Linux.IPPROTO_TCP, Linux.TCP_NODELAY, 1);
        }
        var p = c.protection();
        if (p.keepAlive()) {
            option(Linux.SOL_SOCKET, Linux.SO_KEEPALIVE, 1);
            if (p.keepAliveIdleSeconds() > 0) {
                option(Linux.IPPROTO_TCP, Linux.TCP_KEEPIDLE, p.keepAliveIdleSeconds());
            }
            if (p.keepAliveIntervalSeconds() > 0) {
                option(Linux.IPPROTO_TCP, Linux.TCP_KEEPINTVL, p.keepAliveIntervalSeconds());
            }
            if (p.keepAliveCount() > 0) {
                option(Linux.IPPROTO_TCP, Linux.TCP_KEEPCNT, p.keepAliveCount());
            }
        }
        if (buffers && c.socketRcvBufBytes() > 0) {
            option(Linux.SOL_SOCKET, Linux.SO_RCVBUF, c.socketRcvBufBytes());
        }
        if (buffers && c.socketSndBufBytes() > 0) {
            option(Linux.SOL_SOCKET, Linux.SO_SNDBUF, c.socketSndBufBytes());
        }
    }

    private void option(int level, int name, int value) throws IOException {
        if (loop.sys().setIntOption(fd, level, name, value) < 0) {
            throw error("setsockopt", loop.sys().errno());
        }
    }

    /** The loop that will own this socket; set before any other call (the accepted socket's hand-over). */
    void attach(EventLoop owner) {
        this.loop = owner;
    }

    public int fd() {
        return fd;
    }

    @Override
    public void register(IoHandler handler) {
        loop.registerFd(fd, handler, true);
    }

    @Override
    public void interest(int ops) throws IOException {
        if (!closed) {
            loop.interestFd(fd, ops);
        }
    }

    @Override
    public void readAgain() {
        if (!closed) {
            loop.readAgainFd(fd);
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        int pos = dst.position();
        int room = dst.limit() - pos;
        if (endNext) {
            return room == 0 ? 0 : -1;
        }
        long n = loop.sys().read(fd, Linux.positionAddress(dst), room);
        if (n > 0) {
            dst.position(pos + (int) n);
            if (n < room && loop.peerShutFd(fd)) {
                // drained, and the FIN is behind the data: the relay stops at a short read and no further edge
                // will come, so have it read once more to meet the end of stream — which, with no error seen, is
                // all that is left, so that read needs no system call
                endNext = loop.peerFinCleanFd(fd);
                loop.readAgainFd(fd);
            }
            return (int) n;
        }
        if (n == 0) {
            return room == 0 ? 0 : -1; // read(2) returns 0 at end of stream
        }
        int errno = loop.sys().errno();
        if (errno == Linux.EAGAIN || errno == Linux.EINTR) {
            return 0;
        }
        throw error("read", errno);
    }

    @Override
    public boolean inputEndsNext() {
        return endNext;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        if (!src.isDirect()) {
            return writeHeap(src);
        }
        int pos = src.position();
        return written(src, pos, loop.sys().write(fd, Linux.positionAddress(src), src.limit() - pos));
    }

    /**
     * send(2) with MSG_MORE: the kernel holds the bytes (less than a segment) until the shutdown or close that the
     * caller makes next, whose FIN then rides on them. Larger writes still leave in full segments at once.
     */
    @Override
    public int writeBeforeFin(ByteBuffer src) throws IOException {
        if (!src.isDirect()) {
            return writeHeap(src);
        }
        int pos = src.position();
        return written(src, pos, loop.sys().send(fd, Linux.positionAddress(src), src.limit() - pos, Linux.MSG_MORE));
    }

    private int written(ByteBuffer src, int pos, long n) throws IOException {
        if (n >= 0) {
            src.position(pos + (int) n);
            return (int) n;
        }
        int errno = loop.sys().errno();
        if (errno == Linux.EAGAIN || errno == Linux.EINTR) {
            return 0;
        }
        throw error("write", errno);
    }

    /**
     * A heap buffer (a PROXY header, at most a few hundred bytes) goes through a pooled direct buffer: the relay's
     * own buffers are direct already. With the pool exhausted, a one-off direct buffer.
     */
    private int writeHeap(ByteBuffer src) throws IOException {
        ByteBuffer pooled = src.remaining() <= loop.pool().bufferBytes() ? loop.pool().take() : null;
        ByteBuffer direct = pooled != null ? pooled : ByteBuffer.allocateDirect(src.remaining());
        try {
            direct.put(src.duplicate()).flip();
            int n = write(direct);
            src.position(src.position() + n);
            return n;
        } finally {
            if (pooled != null) {
                loop.pool().give(pooled);
            }
        }
    }

    @Override
    public void shutdownOutput() throws IOException {
        if (loop.sys().shutdown(fd, Linux.SHUT_WR) < 0) {
            throw error("shutdown", loop.sys().errno());
        }
    }

    @Override
    public boolean connect(InetSocketAddress address) throws IOException {
        ByteBuffer a = loop.scratchAddress();
        int len = SockAddr.encode(address, a);
        int r = loop.sys().connect(fd, Linux.positionAddress(a.clear()), len);
        remote = address;
        if (r == 0) {
            return true;
        }
        int errno = loop.sys().errno();
        if (errno == Linux.EINPROGRESS || errno == Linux.EINTR) {
            return false;
        }
        throw error("connect", errno);
    }

    @Override
    public boolean finishConnect() throws IOException {
        if (!loop.eventBroken()) {
            return true; // writable without an error: connected
        }
        int err = loop.sys().getIntOption(fd, Linux.SOL_SOCKET, Linux.SO_ERROR);
        if (err < 0) {
            throw error("getsockopt", loop.sys().errno());
        }
        if (err != 0) {
            throw error("connect", err);
        }
        return true;
    }

    @Override
    public InetSocketAddress remoteAddress() throws IOException {
        if (remote == null) {
            throw new SocketException("not connected");
        }
        return remote;
    }

    @Override
    public InetSocketAddress localAddress() throws IOException {
        ByteBuffer a = loop.scratchAddress();
        int n = loop.sys().getsockname(fd, Linux.positionAddress(a.clear()), SockAddr.CAPACITY);
        if (n < 0) {
            throw error("getsockname", loop.sys().errno());
        }
        return SockAddr.decode(a);
    }

    @Override
    public void resetOnClose() {
        if (!closed) {
            loop.sys().setLingerZero(fd);
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (loop != null) {
                loop.closeFd(fd);
            }
        }
    }

    /** Closes a socket that never reached a loop (a hand-over refused at shutdown). Any thread. */
    public void closeUnowned(Linux.Calls sys) {
        if (!closed) {
            closed = true;
            sys.close(fd);
        }
    }

    /** The exception java.nio would have thrown for {@code errno} from {@code call}. */
    static IOException error(String call, int errno) {
        String what = call + " failed: " + Linux.strerror(errno);
        return switch (errno) {
            case Linux.EADDRNOTAVAIL, 98 /* EADDRINUSE */ -> new BindException(what);
            case Linux.ECONNREFUSED, 110 /* ETIMEDOUT */, 113 /* EHOSTUNREACH */, 101 /* ENETUNREACH */ ->
                    new ConnectException(what);
            default -> new SocketError(what);
        };
    }

    /**
     * A socket error as the kernel reported it (ECONNRESET, EPIPE, ...), without a stack trace: a peer's reset is
     * routine for a balancer (mobile clients, restarted backends), nothing logs the trace (it would only name this
     * class), and filling it in costs more than the rest of the session's close.
     */
    static final class SocketError extends SocketException {
        SocketError(String what) {
            super(what);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this;
        }
    }
}
