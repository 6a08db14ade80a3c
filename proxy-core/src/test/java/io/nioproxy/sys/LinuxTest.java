package io.nioproxy.sys;

import io.nioproxy.config.ConfigException;
import io.nioproxy.config.IoMode;
import io.nioproxy.config.Settings;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The direct Linux calls of epoll mode against real loopback sockets, and how {@code proxy.io} chooses. The calls
 * themselves run where the FFM API is (JDK 22+ on Linux: the suite's epoll run); elsewhere the test checks that the
 * reason is reported and that asking for epoll is a clear start-up error.
 */
class LinuxTest {

    private static Properties props(String... kv) {
        Properties p = io.nioproxy.testing.Props.of(kv);
        p.setProperty("proxy.backends", "127.0.0.1:1");
        return p;
    }

    @Test
    void autoPicksEpollExactlyWhereItIsAvailable() {
        IoMode auto = Settings.from(props()).build().io();
        assertEquals(Linux.AVAILABLE ? IoMode.EPOLL : IoMode.NIO, auto);
        assertEquals(IoMode.NIO, Settings.from(props("proxy.io", "nio")).build().io());
        ConfigException bad = assertThrows(ConfigException.class,
                () -> Settings.from(props("proxy.io", "kqueue")).build());
        assertTrue(bad.getMessage().contains("proxy.io") && bad.getMessage().contains("auto, epoll or nio"),
                bad.getMessage());
        if (Linux.AVAILABLE) {
            assertEquals(IoMode.EPOLL, Settings.from(props("proxy.io", "epoll")).build().io());
        } else {
            assertNotNull(Linux.UNAVAILABLE_REASON);
            ConfigException e = assertThrows(ConfigException.class,
                    () -> Settings.from(props("proxy.io", "epoll")).build());
            assertTrue(e.getMessage().contains(Linux.UNAVAILABLE_REASON), e.getMessage());
        }
    }

    @Test
    void errnoIsCapturedPerCall() {
        assumeTrue(Linux.AVAILABLE, "no FFM here: " + Linux.UNAVAILABLE_REASON);
        Linux.Calls sys = Linux.calls();
        assertEquals(-1, sys.close(-1));
        assertEquals(9, sys.errno(), "EBADF");
        assertEquals(-1, sys.connect(-1, 0, 0));
        assertEquals(9, sys.errno());
    }

    @Test
    void socketAddressesRoundTrip() throws Exception {
        ByteBuffer b = ByteBuffer.allocateDirect(SockAddr.CAPACITY);
        for (String host : new String[] {"127.0.0.1", "10.1.2.3", "::1", "2001:db8::7"}) {
            InetSocketAddress a = new InetSocketAddress(InetAddress.getByName(host), 40123);
            int len = SockAddr.encode(a, b);
            assertEquals(host.contains(":") ? 28 : 16, len);
            assertEquals(a, SockAddr.decode(b));
        }
    }

    /** accept4, connect, write, read, shutdown and close on real loopback sockets, bytes checked both ways. */
    @Test
    void aLoopbackExchangeThroughTheRawCalls() throws Exception {
        assumeTrue(Linux.AVAILABLE, "no FFM here: " + Linux.UNAVAILABLE_REASON);
        Linux.Calls sys = Linux.calls();
        ByteBuffer addr = ByteBuffer.allocateDirect(SockAddr.CAPACITY);
        ByteBuffer data = ByteBuffer.allocateDirect(64);
        try (ServerSocket server = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            int fd = sys.socket(Linux.AF_INET, Linux.SOCK_STREAM | Linux.SOCK_CLOEXEC, 0); // blocking: simple here
            assertTrue(fd >= 0, "socket: errno " + sys.errno());
            try {
                int len = SockAddr.encode((InetSocketAddress) server.getLocalSocketAddress(), addr);
                assertEquals(0, sys.connect(fd, Linux.positionAddress(addr.clear()), len), "errno " + sys.errno());
                try (Socket peer = server.accept()) {
                    byte[] hello = "hello from FFM".getBytes(StandardCharsets.US_ASCII);
                    data.clear().put(hello).flip();
                    assertEquals(hello.length, sys.write(fd, Linux.positionAddress(data), data.remaining()));
                    assertArrayEquals(hello, peer.getInputStream().readNBytes(hello.length));
                    peer.getOutputStream().write(new byte[] {0, 1, 2, (byte) 255});
                    data.clear();
                    long n = sys.read(fd, Linux.positionAddress(data), 4);
                    assertEquals(4, n);
                    assertEquals(255, data.get(3) & 0xff);
                    assertEquals(0, sys.shutdown(fd, Linux.SHUT_WR));
                    assertEquals(-1, peer.getInputStream().read(), "shutdown(SHUT_WR) is a FIN");
                    assertEquals(((InetSocketAddress) peer.getRemoteSocketAddress()).getPort(),
                            localPort(sys, fd, addr));
                }
                assertEquals(0, sys.read(fd, Linux.positionAddress(data.clear()), 4), "end of stream");
            } finally {
                assertEquals(0, sys.close(fd));
            }
        }
    }

    private static int localPort(Linux.Calls sys, int fd, ByteBuffer addr) {
        assertTrue(sys.getsockname(fd, Linux.positionAddress(addr.clear()), SockAddr.CAPACITY) > 0);
        return SockAddr.decode(addr).getPort();
    }
}
