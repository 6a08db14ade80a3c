package io.nioproxy.takeover;

import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A Unix-domain {@code SOCK_SEQPACKET} socket, made with the raw Linux calls, because the JDK's Unix-domain channels
 * cannot carry descriptors: each {@link #send} is one message of UTF-8 text with descriptors attached, each
 * {@link #receive} one whole message (sequenced packets keep the boundaries, so descriptors never arrive beside the
 * wrong text). Blocking, with a deadline on every receive.
 *
 * <p>Threading: one thread at a time (its calls hold one errno cell).
 */
final class HandoverSocket implements AutoCloseable {
    /** Descriptors one message may carry (the kernel's limit is 253). */
    static final int MAX_FDS = 253;
    private static final int MAX_MESSAGE = 64 * 1024;

    /** One message: its text and the descriptors that came with it (now this process's own). */
    record Message(String text, int[] fds) {
    }

    private final Linux.Calls sys;
    private final int fd;
    private final ByteBuffer in = ByteBuffer.allocateDirect(MAX_MESSAGE);

    private HandoverSocket(Linux.Calls sys, int fd) {
        this.sys = sys;
        this.fd = fd;
    }

    /** Listens at {@code path} (which must not exist). */
    static HandoverSocket listen(Path path) throws IOException {
        Linux.Calls sys = Linux.calls();
        int fd = open(sys);
        ByteBuffer addr = SockAddr.unix(path.toString());
        if (sys.bind(fd, Linux.address(addr), addr.limit()) < 0 || sys.listen(fd, 4) < 0) {
            int errno = sys.errno();
            sys.close(fd);
            throw new IOException("cannot listen at " + path + ": " + Linux.strerror(errno));
        }
        return new HandoverSocket(sys, fd);
    }

    /** Connects to the process listening at {@code path}; every receive then waits at most {@code timeoutMillis}. */
    static HandoverSocket connect(Path path, long timeoutMillis) throws IOException {
        Linux.Calls sys = Linux.calls();
        int fd = open(sys);
        ByteBuffer addr = SockAddr.unix(path.toString());
        if (sys.connectBlocking(fd, Linux.address(addr), addr.limit()) < 0) {
            int errno = sys.errno();
            sys.close(fd);
            throw new IOException("no nioproxy answers at " + path + ": " + Linux.strerror(errno));
        }
        HandoverSocket s = new HandoverSocket(sys, fd);
        s.timeout(timeoutMillis);
        return s;
    }

    /** Waits for the next process to connect; its receives wait at most {@code timeoutMillis}. */
    HandoverSocket accept(long timeoutMillis) throws IOException {
        int c = sys.acceptBlocking(fd, Linux.SOCK_CLOEXEC);
        if (c < 0) {
            throw new IOException("accept: " + Linux.strerror(sys.errno()));
        }
        HandoverSocket s = new HandoverSocket(Linux.calls(), c);
        s.timeout(timeoutMillis);
        return s;
    }

    private void timeout(long millis) throws IOException {
        if (sys.setTimeoutOption(fd, Linux.SO_RCVTIMEO, millis) < 0
                || sys.setTimeoutOption(fd, Linux.SO_SNDTIMEO, millis) < 0) {
            throw new IOException("setsockopt: " + Linux.strerror(sys.errno()));
        }
    }

    void send(String text, int... fds) throws IOException {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocateDirect(b.length).put(b).flip();
        if (sys.sendFds(fd, out, fds) != b.length) {
            throw new IOException("sending '" + text + "': " + Linux.strerror(sys.errno()));
        }
    }

    /** The next message; null when the other process closed its end. */
    Message receive() throws IOException {
        int[] fds = new int[MAX_FDS];
        int[] count = new int[1];
        long n = sys.recvFds(fd, in.clear(), fds, count);
        if (n == -1) {
            int errno = sys.errno();
            throw new IOException(errno == Linux.EAGAIN ? "no answer in time" : Linux.strerror(errno));
        }
        if (n == -2) {
            throw new IOException("more descriptors than one message may carry");
        }
        if (n == 0) {
            return null;
        }
        byte[] b = new byte[(int) n];
        in.get(0, b);
        return new Message(new String(b, StandardCharsets.UTF_8), Arrays.copyOf(fds, count[0]));
    }

    /** Unblocks a thread waiting in {@link #accept} (closing alone does not, on Linux). */
    void shutdown() {
        sys.shutdown(fd, 2);
    }

    @Override
    public void close() {
        sys.close(fd);
    }

    private static int open(Linux.Calls sys) throws IOException {
        int fd = sys.socket(Linux.AF_UNIX, Linux.SOCK_SEQPACKET | Linux.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new IOException("socket(AF_UNIX): " + Linux.strerror(sys.errno()));
        }
        return fd;
    }
}
