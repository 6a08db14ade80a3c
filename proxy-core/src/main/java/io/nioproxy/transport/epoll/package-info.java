/**
 * Linux sockets driven by direct system calls through the FFM API ({@code sys.Linux}): an epoll instance per loop,
 * bare descriptors. JDK 22+ on Linux.
 *
 * <p>Threading: A poller and its descriptors belong to one loop thread (its errno cell is that thread's); only
 * {@code EpollPoller.wakeup} may be called from another.
 */
package io.nioproxy.transport.epoll;
