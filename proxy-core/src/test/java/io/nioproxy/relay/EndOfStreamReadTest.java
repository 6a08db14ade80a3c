package io.nioproxy.relay;

import io.nioproxy.Proxy;
import io.nioproxy.config.Settings;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A backend's last bytes and its FIN arriving together — the usual ending of a session (a server writes its reply and
 * closes): the client gets every byte, then the end of stream, and the other direction keeps working. In epoll mode
 * the loop takes those bytes with a single {@code read(2)}: a short read after a FIN with no error can only be followed
 * by the end of stream, so the read that would return 0 is not made (counted from the loop thread's {@code syscr} in
 * {@code /proc}), and writes them with {@code MSG_MORE}, so that they and the FIN it carries reach the client in one
 * TCP segment (counted by the client's own kernel, {@code TCP_INFO}).
 */
class EndOfStreamReadTest {
    @Test
    void lastBytesAndFinTogetherReachTheClientWithOneRead() throws Exception {
        endAfterReply(false);
    }

    /**
     * The same, ended by a reset instead (the backend closes with SO_LINGER 0): the shortcut must not turn it into a
     * clean end — the client gets the bytes, then a reset.
     */
    @Test
    void lastBytesAndResetTogetherReachTheClientAsAReset() throws Exception {
        endAfterReply(true);
    }

    /**
     * Epoll mode: the reply and the FIN the balancer carries for the backend reach the client in one segment, as
     * HAProxy sends them — not the reply, then a FIN of its own that the client must also acknowledge. The client is
     * a bare socket so that its kernel's segment count ({@code tcpi_segs_in}) can be read.
     */
    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // its reads block; a lost FIN must fail, not hang
    void lastBytesAndTheCarriedFinShareOneSegment() throws Exception {
        assumeTrue(Linux.AVAILABLE, "raw Linux calls (JDK 22+): " + Linux.UNAVAILABLE_REASON);
        byte[] reply = new byte[3000]; // one segment on loopback (MSS 65,483)
        new Random(12).nextBytes(reply);
        SynchronousQueue<Socket> accepted = new SynchronousQueue<>();
        CountDownLatch backendDone = new CountDownLatch(1);
        Linux.Calls sys = Linux.calls();
        ByteBuffer io = ByteBuffer.allocateDirect(8192).order(ByteOrder.nativeOrder());
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(handingOver(accepted, backendDone))) {
            Proxy proxy = h.start(Settings.BACKENDS.property(), backend.address(), Settings.WORKERS.property(), "1",
                    Settings.IO.property(), "epoll");
            EventLoop loop = proxy.loops()[0];
            int fd = sys.socket(Linux.AF_INET, Linux.SOCK_STREAM | Linux.SOCK_CLOEXEC, 0);
            assertTrue(fd >= 0, "socket: errno " + sys.errno());
            try {
                int len = SockAddr.encode(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                        ProxyHarness.port(proxy)), io.clear());
                assertEquals(0, sys.connect(fd, Linux.address(io), len), "connect: errno " + sys.errno());
                io.clear().put(0, (byte) 42);
                assertEquals(1, sys.write(fd, Linux.address(io), 1), "write: errno " + sys.errno());
                Socket server = accepted.poll(5, TimeUnit.SECONDS);
                assertTrue(server != null, "the backend was never connected");
                assertEquals(42, server.getInputStream().read(), "the session is not relaying");

                // as above: the reply and the backend's FIN wait together until the loop looks
                CountDownLatch release = holdLoop(loop, () -> { });
                long segmentsBefore = segmentsIn(sys, fd, io);
                server.getOutputStream().write(reply);
                server.shutdownOutput();
                release.countDown();

                byte[] got = new byte[reply.length];
                int n = 0;
                while (true) { // blocking reads: the proxy's FIN ends them (@Timeout bounds them)
                    long r = sys.read(fd, Linux.address(io), io.capacity());
                    assertTrue(r >= 0, "read: errno " + sys.errno());
                    if (r == 0) {
                        break;
                    }
                    assertTrue(n + r <= got.length, "more bytes than the backend sent");
                    io.get(0, got, n, (int) r);
                    n += (int) r;
                }
                assertArrayEquals(reply, got, "the reply before the end of stream");
                assertEquals(1, segmentsIn(sys, fd, io) - segmentsBefore,
                        "segments the client received for the reply and the end of stream");
            } finally {
                sys.close(fd);
                backendDone.countDown();
            }
            ProxyHarness.await("the session to end", java.time.Duration.ofSeconds(5),
                    () -> proxy.sessions() == 0);
        }
    }

    /**
     * A reply larger than the client can take at once, ended by a FIN, to a client that starts reading late: the
     * backend's FIN reaches the balancer long before its last bytes can go on, so in epoll mode those last bytes are
     * written with {@code MSG_MORE} to a full socket and wait there as pending bytes. They must still arrive whole,
     * followed by the end of stream: a FIN that waits for its bytes, and bytes that do not wait for it.
     */
    @Test
    void aReplyAndItsFinReachASlowClientWhole() throws Exception {
        byte[] reply = new byte[300_000 + 1234]; // not a multiple of any buffer: the last read is a short one
        new Random(13).nextBytes(reply);
        CountDownLatch backendDone = new CountDownLatch(1);
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(new TcpServer(s -> {
                 OutputStream out = s.getOutputStream();
                 out.write(reply); // fits in the backend's send and the balancer's receive buffers: the FIN follows
                 s.shutdownOutput();
                 try {
                     backendDone.await(20, TimeUnit.SECONDS);
                 } catch (InterruptedException e) {
                     Thread.currentThread().interrupt();
                 }
             }))) {
            Proxy proxy = h.start(Settings.BACKENDS.property(), backend.address(), Settings.WORKERS.property(), "1");
            try (Socket client = new Socket()) {
                client.setReceiveBufferSize(4096); // before connecting: the window it offers stays small
                client.connect(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(),
                        ProxyHarness.port(proxy)), 5000);
                client.setSoTimeout(20_000);
                Thread.sleep(300); // the balancer fills the client's side and holds the rest
                InputStream in = client.getInputStream();
                byte[] got = in.readNBytes(reply.length + 1);
                assertArrayEquals(reply, got, "the reply, whole, before the end of stream");
                assertEquals(-1, in.read(), "the end of stream after it");
            } finally {
                backendDone.countDown();
            }
            ProxyHarness.await("the session to end", java.time.Duration.ofSeconds(5),
                    () -> proxy.sessions() == 0);
        }
    }

    /**
     * A client that resets while its reply and the backend's FIN are queued at the balancer: the loop meets both in
     * one batch, the reply's write fails and closes the session, and the client's own event — still in that batch —
     * must be passed over, not fail the loop's turn (which would log an error and pause the loop for 10 ms: found by
     * the warm-up's vanishing client on java.nio, where {@code readyOps()} of a key cancelled earlier in the batch
     * throws). Only that session ends; the next one relays.
     */
    @Test
    void aClientGoneWhileItsReplyIsQueuedEndsOnlyItsSession() throws Exception {
        byte[] reply = new byte[3000];
        new Random(14).nextBytes(reply);
        SynchronousQueue<Socket> accepted = new SynchronousQueue<>();
        CountDownLatch backendDone = new CountDownLatch(1);
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(handingOver(accepted, backendDone))) {
            Proxy proxy = h.start(Settings.BACKENDS.property(), backend.address(), Settings.WORKERS.property(), "1");
            EventLoop loop = proxy.loops()[0];
            try {
                for (int round = 0; round < 5; round++) {
                    Socket client = ProxyHarness.connect(proxy, null);
                    client.getOutputStream().write(42);
                    Socket server = accepted.poll(5, TimeUnit.SECONDS);
                    assertTrue(server != null, "the backend was never connected");
                    assertEquals(42, server.getInputStream().read(), "the session is not relaying");

                    CountDownLatch release = holdLoop(loop, () -> { });
                    server.getOutputStream().write(reply); // first in the loop's next batch
                    server.shutdownOutput();
                    client.setSoLinger(true, 0);
                    client.close();                        // then the client's reset
                    release.countDown();
                    ProxyHarness.await("the session to end", java.time.Duration.ofSeconds(5),
                            () -> proxy.sessions() == 0);
                }
                assertEquals(0, loop.turnFailures(), "loop turns that failed");

                try (Socket next = ProxyHarness.connect(proxy, null)) {
                    byte[] msg = {7, 8, 9};
                    next.getOutputStream().write(msg);
                    Socket server = accepted.poll(5, TimeUnit.SECONDS);
                    assertTrue(server != null, "no next session");
                    assertArrayEquals(msg, server.getInputStream().readNBytes(3), "the next session relays");
                }
            } finally {
                backendDone.countDown();
            }
        }
    }

    /**
     * A backend that hands each accepted socket to the test (which writes and closes as it needs) and keeps it open
     * until {@code done}.
     */
    private static TcpServer handingOver(SynchronousQueue<Socket> accepted, CountDownLatch done) throws IOException {
        return new TcpServer(s -> {
            try {
                accepted.put(s);
                done.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /** {@code tcpi_segs_in} of {@code struct tcp_info}: segments this socket has received. */
    private static long segmentsIn(Linux.Calls sys, int fd, ByteBuffer scratch) {
        int tcpInfo = 11, segsInOffset = 140;
        int len = sys.getsockopt(fd, Linux.IPPROTO_TCP, tcpInfo, Linux.address(scratch), 256);
        assertTrue(len >= segsInOffset + 4, "TCP_INFO: errno " + sys.errno() + ", length " + len);
        return Integer.toUnsignedLong(scratch.order(ByteOrder.nativeOrder()).getInt(segsInOffset));
    }

    private static void endAfterReply(boolean reset) throws Exception {
        byte[] reply = new byte[3000];
        new Random(11).nextBytes(reply);
        SynchronousQueue<Socket> accepted = new SynchronousQueue<>();
        CountDownLatch backendDone = new CountDownLatch(1);
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(handingOver(accepted, backendDone))) {
            Proxy proxy = h.start(Settings.BACKENDS.property(), backend.address(), Settings.WORKERS.property(), "1");
            EventLoop loop = proxy.loops()[0];
            try (Socket client = ProxyHarness.connect(proxy, null)) {
                Socket server = accepted.poll(5, TimeUnit.SECONDS);
                assertTrue(server != null, "the backend was never connected");
                OutputStream up = client.getOutputStream();
                up.write(42);
                assertEquals(42, server.getInputStream().read(), "the session is not relaying");

                // Hold the loop while the backend writes its reply and closes, so that both are queued before the
                // loop looks: the bytes and the FIN are reported by one event, as on a busy balancer.
                AtomicReference<Path> loopIo = new AtomicReference<>();
                CountDownLatch release = holdLoop(loop, () -> {
                    // readlink, not read: /proc/thread-self names this thread's task directory
                    try {
                        loopIo.set(Path.of("/proc/self/task",
                                Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString(), "io"));
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                long readsBefore = syscr(loopIo.get());
                OutputStream down = server.getOutputStream();
                down.write(reply);
                if (reset) {
                    server.setSoLinger(true, 0);
                    server.close();
                } else {
                    server.shutdownOutput();
                }
                release.countDown();

                InputStream in = client.getInputStream();
                client.setSoTimeout(5000);
                if (reset) {
                    byte[] got = new byte[reply.length];
                    int n = 0;
                    try {
                        n = in.readNBytes(got, 0, got.length);
                        in.read();
                        throw new AssertionError("a clean end of stream after " + n + " bytes: the reset was lost");
                    } catch (SocketException expected) {
                        // Connection reset: carried as a reset. Bytes still unread when it came may be dropped by
                        // the client's own kernel; those read must be the reply's first ones.
                        assertArrayEquals(java.util.Arrays.copyOf(reply, n), java.util.Arrays.copyOf(got, n));
                    }
                    ProxyHarness.await("the session to end", java.time.Duration.ofSeconds(5),
                            () -> proxy.sessions() == 0);
                    return;
                }
                byte[] got = in.readNBytes(reply.length + 1); // one more than sent: stops at the end of stream
                assertArrayEquals(reply, got, "the reply before the end of stream");
                assertEquals(-1, in.read(), "the end of stream after the reply");
                long reads = syscr(loopIo.get()) - readsBefore;
                if (loop.poller() instanceof io.nioproxy.transport.epoll.EpollPoller) {
                    assertEquals(1, reads, "read(2) calls by the loop for the reply and its FIN");
                }

                // the other direction is still open: the backend gets what the client sends after that end
                up.write(new byte[] {1, 2, 3});
                up.flush();
                assertArrayEquals(new byte[] {1, 2, 3}, server.getInputStream().readNBytes(3));
                client.shutdownOutput();
                assertEquals(-1, server.getInputStream().read(), "the client's FIN carried to the backend");
            } finally {
                backendDone.countDown();
            }
            ProxyHarness.await("the session to end", java.time.Duration.ofSeconds(5),
                    () -> proxy.sessions() == 0);
        }
    }

    /**
     * Parks the loop's thread in a task (after running {@code first} there) until the returned latch is released, so
     * that what peers send meanwhile is all queued when the loop next looks.
     */
    private static CountDownLatch holdLoop(EventLoop loop, Runnable first) throws InterruptedException {
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        assertTrue(loop.execute(l -> {
            first.run();
            holding.countDown();
            try {
                release.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        assertTrue(holding.await(5, TimeUnit.SECONDS), "the loop did not run the task");
        return release;
    }

    /** Read-family system calls made by one thread, from its {@code /proc/self/task/TID/io}. */
    private static long syscr(Path io) throws java.io.IOException {
        for (String line : Files.readAllLines(io)) {
            if (line.startsWith("syscr:")) {
                return Long.parseLong(line.substring(6).trim());
            }
        }
        throw new AssertionError("no syscr in " + io);
    }
}
