package io.nioproxy.transport;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * A bound, listening socket of one {@link Transport}'s kind. Accepting yields a {@link Conn} that is not yet
 * attached to a loop, so that it can be handed to any loop of the same transport.
 *
 * <p>Threading: made on the start-up thread ({@link Transport#listen}); from {@link #register} on, its loop's thread
 * only.
 */
public interface ListenSocket {
    /** The address bound (with the real port when 0 was asked for). */
    InetSocketAddress localAddress();

    /** Loop thread: watches for clients for {@code handler} on {@code poller}, accepting on. */
    void register(Poller poller, IoHandler handler) throws IOException;

    /** Turns accepting on or off (off: clients wait in the kernel's backlog). */
    void accepting(boolean on) throws IOException;

    /**
     * @return the next waiting client, not attached to a loop; null when none waits
     * @throws IOException when accepting failed (out of descriptors): the caller pauses rather than spin
     */
    Conn accept() throws IOException;

    /** Accepts per readiness event: what drains a burst at the least cost for this kind. */
    int acceptsPerEvent();

    /** The descriptor, for a take-over to hand to another process; -1 for a transport that cannot (java.nio). */
    default int nativeFd() {
        return -1;
    }

    /** Closes the socket: the port refuses connections once its loop's current turn ends. Loop thread. */
    void close();
}
