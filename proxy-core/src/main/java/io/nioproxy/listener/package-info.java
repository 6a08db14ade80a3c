/**
 * Listening addresses: {@code Listener} binds (one socket per loop, or one for all) and owns the {@code Route} its
 * sessions share; {@code Acceptor} accepts on one loop.
 *
 * <p>Threading: Bound on the start-up thread; acceptors run on their loops.
 */
package io.nioproxy.listener;
