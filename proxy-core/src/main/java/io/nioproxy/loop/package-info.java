/**
 * The event loop: one thread, one {@code transport.Poller}, an MPSC inbox of {@code LoopTask}s, a {@code TimerWheel}
 * and per-turn services. It knows nothing of sessions or sockets.
 *
 * <p>Threading: Everything on the loop thread, except {@code EventLoop.execute}, {@code wakeup} and {@code close};
 * forbidden there: blocking, locks, allocation per event.
 */
package io.nioproxy.loop;
