package io.nioproxy.transport.nio;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.ListenSocket;
import io.nioproxy.transport.Poller;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * A listening {@link ServerSocketChannel} on a java.nio loop.
 *
 * <p>Threading: opened on the start-up thread, then its loop's thread only.
 */
final class NioListenSocket implements ListenSocket, NioHandle {
    /** Accepts per readiness event: enough to drain a burst, bounded so that one listener cannot starve the loop. */
    private static final int ACCEPTS_PER_EVENT = 64;

    private final ServerSocketChannel server;
    private final InetSocketAddress local;
    private NioPoller poller;
    private SelectionKey key;
    private IoHandler handler;

    private NioListenSocket(ServerSocketChannel server) throws IOException {
        this.server = server;
        this.local = (InetSocketAddress) server.getLocalAddress();
    }

    static NioListenSocket open(InetSocketAddress at, ListenerConfig c, boolean reusePort) throws IOException {
        ServerSocketChannel server = NioSocketOptions.openListener(at, c);
        try {
            if (reusePort) {
                server.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            }
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.configureBlocking(false);
            server.bind(at, c.backlog());
            return new NioListenSocket(server);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
    }

    @Override
    public InetSocketAddress localAddress() {
        return local;
    }

    @Override
    public void register(Poller poller, IoHandler handler) throws IOException {
        this.poller = (NioPoller) poller;
        this.handler = handler;
        key = this.poller.register(server, SelectionKey.OP_ACCEPT, this);
    }

    @Override
    public IoHandler handler() {
        return handler;
    }

    @Override
    public void keyMoved(SelectionKey key) {
        this.key = key;
    }

    @Override
    public void accepting(boolean on) {
        if (key != null && key.isValid()) {
            key.interestOps(on ? SelectionKey.OP_ACCEPT : 0);
        }
    }

    @Override
    public Conn accept() throws IOException {
        SocketChannel ch = server.accept();
        return ch == null ? null : new NioConn(ch);
    }

    @Override
    public int acceptsPerEvent() {
        return ACCEPTS_PER_EVENT;
    }

    @Override
    public void close() {
        if (key != null) {
            // a registered channel is closed by the JDK only once its key is deregistered: do that now, so that the
            // port refuses connections when this returns rather than after the loop's next select
            key.cancel();
            key = null;
            poller.deregisterCancelled();
        }
        try {
            server.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
