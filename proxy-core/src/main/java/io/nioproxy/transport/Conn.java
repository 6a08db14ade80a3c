package io.nioproxy.transport;

import io.nioproxy.config.ListenerConfig;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;

/**
 * One TCP socket of a session as the relay sees it, whichever {@link Transport} drives it. The calls mean what the
 * {@code SocketChannel} methods of the same name mean; errors are {@link IOException}s.
 *
 * <p>A client socket comes from {@link ListenSocket#accept} unattached, may travel to another loop, and is then
 * {@link #attach attached} to that loop's poller; a backend socket comes from {@link Poller#openBackend} attached.
 *
 * <p>Threading: its loop's thread only, from {@link #attach} on; before it, only {@link #closeUnattached}.
 */
public interface Conn {
    /** Loop thread: binds this socket to its loop's poller (of the same transport). The first call on the loop. */
    void attach(Poller poller);

    /** Options an accepted client socket needs beyond what it inherited from its listening socket. */
    void configureAsClient(ListenerConfig config) throws IOException;

    /** Starts watching for {@code handler}, with no interest. Loop thread. */
    void register(IoHandler handler) throws IOException;

    /** Sets the interest, in {@link java.nio.channels.SelectionKey} bits. */
    void interest(int ops) throws IOException;

    /**
     * The caller stopped reading before the socket was drained (a bound on reads per event, a full buffer) and will
     * want the rest: make sure it is told again, as a level-triggered selector would.
     */
    void readAgain();

    /** @return bytes read, 0 when none are there, -1 at end of stream */
    int read(ByteBuffer dst) throws IOException;

    int write(ByteBuffer src) throws IOException;

    /**
     * Whether the last {@link #read} took this socket's final bytes and the next one can only return the end of
     * stream (the FIN came with them). Only an epoll loop knows (EPOLLRDHUP); a java.nio socket says false.
     */
    default boolean inputEndsNext() {
        return false;
    }

    /**
     * {@link #write}, when {@link #shutdownOutput} or {@link #close} follows as soon as {@code src} is written:
     * the bytes may wait in the socket for the FIN, so that both leave in one segment (as HAProxy's last send before
     * a shutdown does) — two segments fewer per session, the FIN and the peer's ACK of it. java.nio has no
     * {@code MSG_MORE}: a plain write.
     */
    default int writeBeforeFin(ByteBuffer src) throws IOException {
        return write(src);
    }

    void shutdownOutput() throws IOException;

    /** Starts a connect; true when it completed at once. */
    boolean connect(InetSocketAddress remote) throws IOException;

    /** Completes a connect whose socket became writable: true when connected, an exception when it failed. */
    boolean finishConnect() throws IOException;

    InetSocketAddress remoteAddress() throws IOException;

    InetSocketAddress localAddress() throws IOException;

    /** Sets {@code SO_LINGER 0}, so that the close sends a reset; best effort. */
    void resetOnClose();

    /** Releases the socket (FIN, or RST after {@link #resetOnClose}); the descriptor is freed within the turn. */
    void close();

    /** The descriptor, for a take-over to hand to another process; -1 for a transport that cannot (java.nio). */
    default int nativeFd() {
        return -1;
    }

    /**
     * Gives the socket up to another process that holds it now: leaves this poller and closes this process's
     * descriptor only — no FIN, no reset, the connection lives on in the other process. Loop thread.
     */
    default void handOver() {
        throw new UnsupportedOperationException("this transport cannot hand a socket over");
    }

    /** Any thread: closes a socket that never reached a loop (a hand-over refused because the loop stopped). */
    void closeUnattached();
}
