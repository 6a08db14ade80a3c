package io.nioproxy.transport.nio;

import io.nioproxy.buffer.BufferPool;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.ListenSocket;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The java.nio poller's own duties: the selector rebuild keeps every registered socket working. */
class NioPollerTest {
    /** Registers {@code server} on {@code loop} with a handler that accepts, closes and counts; returns the poller. */
    private static NioPoller registerAccepting(EventLoop loop, ListenSocket server, CountDownLatch accepted)
            throws InterruptedException {
        IoHandler handler = new IoHandler() {
            @Override
            public void onReady(int readyOps) {
                try {
                    Conn c = server.accept();
                    if (c != null) {
                        c.closeUnattached();
                        accepted.countDown();
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }

            @Override
            public void onFailure(Throwable cause) {
            }
        };
        CountDownLatch registered = new CountDownLatch(1);
        NioPoller[] poller = new NioPoller[1];
        loop.execute(l -> {
            try {
                server.register(l.poller(), handler);
                poller[0] = (NioPoller) l.poller();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
            registered.countDown();
        });
        assertTrue(registered.await(5, TimeUnit.SECONDS));
        return poller[0];
    }

    @Test
    void rebuildingTheSelectorKeepsEveryChannelWorking() throws Exception {
        EventLoop loop = new EventLoop(9, new BufferPool(1024, 4096), null, NioTransport.INSTANCE, 0);
        loop.start();
        ListenSocket server = NioTransport.INSTANCE.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                io.nioproxy.testing.Props.listener(), false);
        try {
            CountDownLatch accepted = new CountDownLatch(2);
            registerAccepting(loop, server, accepted);
            try (SocketChannel c = SocketChannel.open(server.localAddress())) {
                c.write(ByteBuffer.wrap(new byte[1]));
            }
            CountDownLatch rebuilt = new CountDownLatch(1);
            loop.execute(l -> {
                try {
                    ((NioPoller) l.poller()).rebuildSelector();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
                rebuilt.countDown();
            });
            assertTrue(rebuilt.await(5, TimeUnit.SECONDS));
            assertEquals(1, loop.selectorRebuilds());
            try (SocketChannel c = SocketChannel.open(server.localAddress())) {
                c.write(ByteBuffer.wrap(new byte[1]));
            }
            assertTrue(accepted.await(5, TimeUnit.SECONDS), "the listening socket moved to the new selector");
        } finally {
            loop.close();
        }
    }

    /**
     * The spin work-around end to end, on a running loop: selects that return early with nothing ready and no wake-up
     * asked (the JDK epoll bug; here the selector is woken behind the poller's back) are counted, the 512th in a row
     * rebuilds the selector, the rebuild is logged, and a socket registered before it still works after.
     */
    @Test
    void earlyReturnsInARowRebuildTheSelectorAndSaySo() throws Exception {
        java.util.List<String> lines = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        java.io.PrintStream original = System.err;
        io.nioproxy.log.Log.output(new java.io.PrintStream(new java.io.OutputStream() {
            private final StringBuilder line = new StringBuilder();

            @Override
            public synchronized void write(int b) {
                original.write(b);
                if (b == '\n') {
                    lines.add(line.toString());
                    line.setLength(0);
                } else {
                    line.append((char) b);
                }
            }
        }, true));
        EventLoop loop = new EventLoop(10, new BufferPool(1024, 4096), null, NioTransport.INSTANCE, 0);
        loop.start();
        ListenSocket server = NioTransport.INSTANCE.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                io.nioproxy.testing.Props.listener(), false);
        try {
            CountDownLatch accepted = new CountDownLatch(1);
            NioPoller[] poller = {registerAccepting(loop, server, accepted)};
            java.nio.channels.Selector first = poller[0].selector();
            // the loop sleeps up to a second in select: wake its selector directly, over and over (bounded)
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (loop.selectorRebuilds() == 0 && System.nanoTime() < deadline) {
                first.wakeup();
                Thread.sleep(0, 200_000);
            }
            assertEquals(1, loop.selectorRebuilds(), "the selector was rebuilt once");
            assertTrue(poller[0].selector() != first, "a new selector");
            io.nioproxy.testing.ProxyHarness.await("the rebuild logged", java.time.Duration.ofSeconds(5), () -> {
                synchronized (lines) {
                    return lines.stream().anyMatch(l -> l.contains("returned early " + NioPoller.SPIN_REBUILD_THRESHOLD
                            + " times in a row") && l.contains("selector rebuilt"));
                }
            });
            try (SocketChannel c = SocketChannel.open(server.localAddress())) {
                c.write(ByteBuffer.wrap(new byte[1]));
            }
            assertTrue(accepted.await(5, TimeUnit.SECONDS), "the listening socket works on the new selector");
        } finally {
            io.nioproxy.log.Log.output(original);
            loop.close();
        }
    }
}
