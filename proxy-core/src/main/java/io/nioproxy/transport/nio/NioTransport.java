package io.nioproxy.transport.nio;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.transport.ListenSocket;
import io.nioproxy.transport.Poller;
import io.nioproxy.transport.Transport;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * java.nio: a {@link java.nio.channels.Selector} per loop and {@code SocketChannel}s. Every JDK, every system.
 *
 * <p>Threading: stateless; any thread.
 */
public final class NioTransport implements Transport {
    public static final NioTransport INSTANCE = new NioTransport();

    private NioTransport() {
    }

    @Override
    public Poller newPoller() throws IOException {
        return new NioPoller();
    }

    @Override
    public ListenSocket listen(InetSocketAddress at, ListenerConfig config, boolean reusePort) throws IOException {
        return NioListenSocket.open(at, config, reusePort);
    }

    @Override
    public String toString() {
        return "nio";
    }
}
