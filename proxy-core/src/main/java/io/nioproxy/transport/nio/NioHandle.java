package io.nioproxy.transport.nio;

import io.nioproxy.transport.IoHandler;

import java.nio.channels.SelectionKey;

/**
 * What a {@link SelectionKey} of a {@link NioPoller} carries as its attachment: the socket's own object, which knows
 * its handler and keeps its key — and so must learn of the new key when the selector is rebuilt.
 *
 * <p>Threading: the poller's loop thread.
 */
interface NioHandle {
    IoHandler handler();

    /** The selector was rebuilt: this socket's key is now {@code key}. */
    void keyMoved(SelectionKey key);
}
