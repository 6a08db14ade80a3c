package io.nioproxy.config;

/** How the event loops drive sockets ({@code proxy.io}). */
public enum IoMode {
    /** java.nio: SocketChannels and a Selector per loop. Every JDK, every system. */
    NIO,
    /**
     * Direct Linux calls through the JDK's foreign-function API (JDK 22+): accept4, socket, connect, read, write,
     * epoll — the same relay with about a third fewer system calls per connection (docs/decisions/0001-epoll-through-ffm.md).
     */
    EPOLL
}
