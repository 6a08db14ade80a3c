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
    @Test
    void rebuildingTheSelectorKeepsEveryChannelWorking() throws Exception {
        EventLoop loop = new EventLoop(9, new BufferPool(1024, 4096), null, io.nioproxy.transport.nio.NioTransport.INSTANCE, 0);
        loop.start();
        ListenSocket server = NioTransport.INSTANCE.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                io.nioproxy.testing.Props.listener(), false);
        try {
            CountDownLatch accepted = new CountDownLatch(2);
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
            loop.execute(l -> {
                try {
                    server.register(l.poller(), handler);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
                registered.countDown();
            });
            assertTrue(registered.await(5, TimeUnit.SECONDS));
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
}
