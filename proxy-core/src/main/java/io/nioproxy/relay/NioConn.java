package io.nioproxy.relay;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.IoHandler;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * A session socket on a java.nio loop: a non-blocking {@link SocketChannel} and its {@link SelectionKey}.
 *
 * <p>Threading: its loop's thread only.
 */
final class NioConn implements Conn {
    private final SocketChannel channel;
    private final SessionTable table;
    private SelectionKey key;

    NioConn(SocketChannel channel, SessionTable table) {
        this.channel = channel;
        this.table = table;
    }

    /** A non-blocking backend socket toward {@code address}, options applied, not connected. */
    static NioConn openBackend(InetSocketAddress address, ListenerConfig c, SessionTable table) throws IOException {
        SocketChannel ch = SocketOptions.openBackend(address);
        try {
            ch.configureBlocking(false);
            SocketOptions.applyToBackend(ch, c);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return new NioConn(ch, table);
    }

    @Override
    public void register(IoHandler handler) throws IOException {
        key = table.loop().register(channel, 0, handler); // the handler forwards keyMoved here (Leg)
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
        table.closeAfterDeregistration(channel, key);
        key = null;
    }

    /** A selector rebuild moved the key (told through the leg that is the key's attachment). */
    void keyMoved(SelectionKey oldKey, SelectionKey newKey) {
        if (key == oldKey) {
            key = newKey;
        }
    }
}
