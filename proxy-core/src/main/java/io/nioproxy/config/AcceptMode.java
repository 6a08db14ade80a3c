package io.nioproxy.config;

/** How accepted connections reach the event loops ({@code proxy.accept}). */
public enum AcceptMode {
    /**
     * Every loop binds its own listening socket with {@code SO_REUSEPORT} and accepts on its own selector; the
     * kernel spreads new connections. No hand-off between threads.
     */
    REUSEPORT,
    /** Loop 0 accepts and hands each channel to the next loop in turn through that loop's MPSC queue. */
    ACCEPTOR
}
