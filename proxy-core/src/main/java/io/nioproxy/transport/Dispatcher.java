package io.nioproxy.transport;

/**
 * Where a {@link Poller} hands each ready socket: the event loop, which times the turn and contains a handler's
 * failure to that handler.
 *
 * <p>Threading: the loop thread, inside {@link Poller#poll}.
 */
public interface Dispatcher {
    /**
     * Runs {@code handler} for {@code readyOps} ({@link java.nio.channels.SelectionKey} bits).
     *
     * @return false when even its failure handling failed: the poller drops the registration
     */
    boolean dispatch(IoHandler handler, int readyOps);
}
