package io.nioproxy.transport.nio;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.Poller;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * A session socket on a java.nio loop: a non-blocking {@link SocketChannel} and its {@link SelectionKey}, whose
 * attachment it is.
 *
 * <p>Threading: its loop's thread only, from {@link #attach} on.
 */
final class NioConn implements Conn, NioHandle {
    private final SocketChannel channel;
    private NioPoller poller;
    private SelectionKey key;
    private IoHandler handler;

    NioConn(SocketChannel channel) {
        this.channel = channel;
    }

    /** A non-blocking backend socket toward {@code address}, options applied, not connected. */
    static NioConn openBackend(InetSocketAddress address, ListenerConfig c, NioPoller poller) throws IOException {
        SocketChannel ch = NioSocketOptions.openBackend(address);
        try {
            ch.configureBlocking(false);
            NioSocketOptions.applyToBackend(ch, c);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        NioConn conn = new NioConn(ch);
        conn.poller = poller;
        return conn;
    }

    @Override
    public void attach(Poller poller) {
        this.poller = (NioPoller) poller; // a java.nio socket reaches only java.nio loops: one transport per process
    }

    @Override
    public void configureAsClient(ListenerConfig config) throws IOException {
        channel.configureBlocking(false);
        NioSocketOptions.applyToClient(channel, config);
    }

    @Override
    public void register(IoHandler handler) throws IOException {
        this.handler = handler;
        key = poller.register(channel, 0, this);
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
    public void interest(int ops) {
        if (key != null) {
            key.interestOps(ops); // the leg calls only on a change
        }
    }

    @Override
    public void readAgain() {
        // level-triggered: the selector reports the socket again while bytes wait
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return channel.read(dst);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return channel.write(src);
    }

    @Override
    public void shutdownOutput() throws IOException {
        channel.shutdownOutput();
    }

    @Override
    public boolean connect(InetSocketAddress remote) throws IOException {
        return channel.connect(remote);
    }

    @Override
    public boolean finishConnect() throws IOException {
        return channel.finishConnect();
    }

    @Override
    public InetSocketAddress remoteAddress() throws IOException {
        return (InetSocketAddress) channel.getRemoteAddress();
    }

    @Override
    public InetSocketAddress localAddress() throws IOException {
        return (InetSocketAddress) channel.getLocalAddress();
    }

    @Override
    public void resetOnClose() {
        try {
            // SO_LINGER 0: close() sends RST instead of FIN, so the peer learns the stream broke.
            channel.setOption(StandardSocketOptions.SO_LINGER, 0);
        } catch (IOException | RuntimeException e) {
            // not connected any more: a plain close is all that is left
        }
    }

    @Override
    public void close() {
        if (poller == null) {
            closeUnattached();
            return;
        }
        poller.closeAfterDeregistration(channel, key);
        key = null;
    }

    @Override
    public void closeUnattached() {
        try {
            channel.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
