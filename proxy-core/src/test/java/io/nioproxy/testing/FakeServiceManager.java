package io.nioproxy.testing;

import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The receiving end of {@code sd_notify}, as systemd holds it for a {@code Type=notify} unit: a Unix-domain datagram
 * socket whose path a child gets in {@code NOTIFY_SOCKET}. Each datagram is one notification. Raw Linux calls (the
 * JDK has no Unix-domain datagram channel): epoll-mode tests only.
 */
public final class FakeServiceManager implements AutoCloseable {
    private final Linux.Calls sys = Linux.calls();
    private final int fd;
    private final String path;
    private final ByteBuffer in = ByteBuffer.allocateDirect(4096);

    public FakeServiceManager(Path path) throws IOException {
        this(path.toString());
    }

    /** At {@code path}, or at an abstract name written {@code @name}. */
    public FakeServiceManager(String path) throws IOException {
        this.path = path;
        fd = sys.socket(Linux.AF_UNIX, Linux.SOCK_DGRAM | Linux.SOCK_CLOEXEC, 0);
        ByteBuffer addr = SockAddr.unix(this.path);
        if (fd < 0 || sys.bind(fd, Linux.address(addr), addr.limit()) < 0) {
            throw new IOException("cannot bind " + this.path + ": " + Linux.strerror(sys.errno()));
        }
    }

    /** What to put in the child's {@code NOTIFY_SOCKET}. */
    public String socket() {
        return path;
    }

    /** The next notification, or null when none came within {@code millis}. */
    public String receive(long millis) throws IOException {
        if (sys.setTimeoutOption(fd, Linux.SO_RCVTIMEO, millis) < 0) {
            throw new IOException("setsockopt: " + Linux.strerror(sys.errno()));
        }
        long n = sys.recvFds(fd, in.clear(), new int[1], new int[1]);
        if (n < 0) {
            if (sys.errno() == Linux.EAGAIN) {
                return null;
            }
            throw new IOException("recvmsg: " + Linux.strerror(sys.errno()));
        }
        byte[] b = new byte[(int) n];
        in.get(0, b);
        return new String(b, StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        sys.close(fd);
    }
}
