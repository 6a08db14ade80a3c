package io.nioproxy.transport;

import java.nio.channels.SelectionKey;

/**
 * What handles a socket's ready events on a loop: one of a session's legs, or a listener's acceptor. Its
 * {@link Poller} finds it from the event (through the socket's key in java.nio, by descriptor in epoll).
 *
 * <p>Threading: called only on the loop thread that owns the socket.
 */
public interface IoHandler {
    /**
     * The socket is ready for {@code readyOps} ({@link SelectionKey} bits, limited to the interest given). Must not
     * throw for I/O errors: handle them and close what they hit.
     */
    void onReady(int readyOps);

    /** Called when {@link #onReady} threw anyway (a bug): close whatever this handler owns, never the loop. */
    void onFailure(Throwable cause);
}
