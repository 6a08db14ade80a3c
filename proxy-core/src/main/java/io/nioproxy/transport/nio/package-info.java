/**
 * java.nio sockets: a {@code Selector} per loop ({@code NioPoller}), {@code SocketChannel}s ({@code NioConn}) and
 * {@code ServerSocketChannel}s ({@code NioListenSocket}).
 *
 * <p>Threading: A poller and its sockets belong to one loop thread; only {@code NioPoller.wakeup} may be called from
 * another.
 */
package io.nioproxy.transport.nio;
