package io.nioproxy.transport.epoll;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.Poller;

import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;

/**
 * A session socket on an epoll loop: a bare non-blocking descriptor. What it does not do, against a java.nio
 * socket: no fcntl pair to make it non-blocking (accept4 and socket take SOCK_NONBLOCK), no getsockname
 * at accept and connect, no poll() in finishConnect (the socket is writable: SO_ERROR says how the connect went),
 * no EPOLL_CTL_DEL before close.
 *
 * <p>Threading: its loop's thread only. Created on the accepting loop and handed over in {@code acceptor} mode, but
 * no call but {@link #closeUnattached} is made on it before it reaches its own loop.
 */
final class EpollConn implements Conn {
    private final int fd;
    private EpollPoller poller;
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
    EpollConn(int fd, InetSocketAddress remote, boolean noDelaySet) {
        this.fd = fd;
        this.remote = remote;
        this.noDelaySet = noDelaySet;
    }

    /** A non-blocking backend socket toward {@code address} on {@code loop}, options applied, not connected. */
    static EpollConn openBackend(InetSocketAddress address, ListenerConfig c, EpollPoller poller) throws IOException {
        Linux.Calls sys = poller.sys();
        int domain = address.getAddress() instanceof java.net.Inet4Address ? Linux.AF_INET : Linux.AF_INET6;
        int fd = sys.socket(domain, Linux.SOCK_STREAM | Linux.SOCK_NONBLOCK | Linux.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw error("socket", sys.errno());
        }
        EpollConn conn = new EpollConn(fd, null, false);
        conn.poller = poller;
        try {
            conn.applyOptions(c, c.tcpNoDelay(), true); // buffer sizes before the SYN: they set the window scale
        } catch (IOException | RuntimeException e) {
            sys.close(fd);
            throw e;
        }
        return conn;
    }

    /** Options for an accepted client socket (buffer sizes, and TCP_NODELAY on Linux, come from the listener). */
    @Override
    public void configureAsClient(ListenerConfig c) throws IOException {
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
        if (poller.sys().setIntOption(fd, level, name, value) < 0) {
            throw error("setsockopt", poller.sys().errno());
        }
    }

    @Override
    public int nativeFd() {
        return fd;
    }

    @Override
    public void handOver() {
        if (!closed) {
            closed = true;
            poller.handOver(fd);
        }
    }

    @Override
    public void attach(Poller owner) {
        this.poller = (EpollPoller) owner; // a descriptor reaches only epoll loops: one transport per process
    }

    @Override
    public void register(IoHandler handler) {
        poller.register(fd, handler, true);
    }

    @Override
    public void interest(int ops) throws IOException {
        if (!closed) {
            poller.interest(fd, ops);
        }
    }

    @Override
    public void readAgain() {
        if (!closed) {
            poller.readAgain(fd);
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        int pos = dst.position();
        int room = dst.limit() - pos;
        if (endNext) {
            return room == 0 ? 0 : -1;
        }
        long n = poller.sys().read(fd, Linux.positionAddress(dst), room);
        if (n > 0) {
            dst.position(pos + (int) n);
            if (n < room && poller.peerShut(fd)) {
                // drained, and the FIN is behind the data: the relay stops at a short read and no further edge
                // will come, so have it read once more to meet the end of stream — which, with no error seen, is
                // all that is left, so that read needs no system call
                endNext = poller.peerFinClean(fd);
                poller.readAgain(fd);
            }
            return (int) n;
        }
        if (n == 0) {
            return room == 0 ? 0 : -1; // read(2) returns 0 at end of stream
        }
        int errno = poller.sys().errno();
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
        return written(src, pos, poller.sys().write(fd, Linux.positionAddress(src), src.limit() - pos));
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
        return written(src, pos, poller.sys().send(fd, Linux.positionAddress(src), src.limit() - pos, Linux.MSG_MORE));
    }

    private int written(ByteBuffer src, int pos, long n) throws IOException {
        if (n >= 0) {
            src.position(pos + (int) n);
            return (int) n;
        }
        int errno = poller.sys().errno();
        if (errno == Linux.EAGAIN || errno == Linux.EINTR) {
            return 0;
        }
        throw error("write", errno);
    }

    /**
     * A heap buffer (a PROXY header, at most a few hundred bytes) goes through a direct one: the relay's own buffers
     * are direct already.
     */
    private int writeHeap(ByteBuffer src) throws IOException {
        ByteBuffer scratch = poller.heapWrites();
        ByteBuffer direct = src.remaining() <= scratch.capacity() ? scratch.clear()
                : ByteBuffer.allocateDirect(src.remaining());
        direct.put(src.duplicate()).flip();
        int n = write(direct);
        src.position(src.position() + n);
        return n;
    }

    @Override
    public void shutdownOutput() throws IOException {
        if (poller.sys().shutdown(fd, Linux.SHUT_WR) < 0) {
            throw error("shutdown", poller.sys().errno());
        }
    }

    @Override
    public boolean connect(InetSocketAddress address) throws IOException {
        ByteBuffer a = poller.scratchAddress();
        int len = SockAddr.encode(address, a);
        int r = poller.sys().connect(fd, Linux.positionAddress(a.clear()), len);
        remote = address;
        if (r == 0) {
            return true;
        }
        int errno = poller.sys().errno();
        if (errno == Linux.EINPROGRESS || errno == Linux.EINTR) {
            return false;
        }
        throw error("connect", errno);
    }

    @Override
    public boolean finishConnect() throws IOException {
        if (!poller.eventBroken()) {
            return true; // writable without an error: connected
        }
        int err = poller.sys().getIntOption(fd, Linux.SOL_SOCKET, Linux.SO_ERROR);
        if (err < 0) {
            throw error("getsockopt", poller.sys().errno());
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
        ByteBuffer a = poller.scratchAddress();
        int n = poller.sys().getsockname(fd, Linux.positionAddress(a.clear()), SockAddr.CAPACITY);
        if (n < 0) {
            throw error("getsockname", poller.sys().errno());
        }
        return SockAddr.decode(a);
    }

    @Override
    public void resetOnClose() {
        if (!closed) {
            poller.sys().setLingerZero(fd);
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (poller != null) {
                poller.close(fd);
            } else {
                Linux.calls().close(fd);
            }
        }
    }

    @Override
    public void closeUnattached() {
        if (!closed) {
            closed = true;
            Linux.calls().close(fd); // any thread: a Calls of its own (close reads no errno)
        }
    }

    /** The exception java.nio would have thrown for {@code errno} from {@code call}. */
    static IOException error(String call, int errno) {
        String what = call + " failed: " + Linux.strerror(errno);
        return switch (errno) {
            case Linux.EADDRNOTAVAIL, Linux.EADDRINUSE -> new BindException(what);
            case Linux.ECONNREFUSED, Linux.ETIMEDOUT, Linux.EHOSTUNREACH, Linux.ENETUNREACH ->
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
