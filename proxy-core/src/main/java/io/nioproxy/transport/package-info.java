/**
 * The seam between the event loop and the operating system's sockets: one interface per role, one package per
 * mechanism.
 *
 * <ul>
 *   <li>{@link io.nioproxy.transport.Transport} — a mechanism (java.nio selectors, epoll through the FFM API): makes
 *   the pollers and listening sockets of that kind.</li>
 *   <li>{@link io.nioproxy.transport.Poller} — one loop's readiness source: waits, hands ready sockets to a
 *   {@link io.nioproxy.transport.Dispatcher}, opens backend sockets of its kind, closes sockets when it is safe.</li>
 *   <li>{@link io.nioproxy.transport.Conn} — one TCP socket of a session, as the relay sees it.</li>
 *   <li>{@link io.nioproxy.transport.ListenSocket} — one listening socket; accepting yields a {@code Conn}.</li>
 * </ul>
 *
 * <p>Netty 4.2 splits its loops the same way ({@code IoHandler} per mechanism under one loop), HAProxy registers a
 * {@code struct poller} per mechanism. A third mechanism (io_uring) is a third sub-package, with no branch anywhere
 * else. Interest and readiness are spoken in {@link java.nio.channels.SelectionKey} bits in every mechanism.
 *
 * <p>Threading: a poller, and every socket registered with it, belong to one loop thread; the exceptions
 * ({@link io.nioproxy.transport.Poller#wakeup}, {@link io.nioproxy.transport.Conn#closeUnattached}, making
 * listening sockets at start-up) say so.
 */
package io.nioproxy.transport;
