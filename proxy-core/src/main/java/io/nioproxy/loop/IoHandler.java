package io.nioproxy.loop;

import java.nio.channels.SelectionKey;

/**
 * What a {@link SelectionKey}'s attachment is: the object that handles its ready events. One of a session's legs,
 * or a listener's acceptor.
 *
 * <p>Threading: called only on the loop thread that owns the key.
 */
public interface IoHandler {
    /** The key is ready for {@code readyOps}. Must not throw for I/O errors: handle them and close what they hit. */
    void onReady(SelectionKey key, int readyOps);

    /** Called when {@link #onReady} threw anyway (a bug): close whatever this handler owns, never the loop. */
    void onFailure(Throwable cause);
}
