/**
 * Sessions: the relay ({@code Session}, {@code Leg}), the phases before it ({@code ClientIntake}, {@code
 * Connector}), a session's deadlines ({@code SessionTimer}), and what a loop's sessions share ({@code SessionTable},
 * {@code LoopBuffers}, {@code SessionAccounting}).
 *
 * <p>Threading: The loop thread only, except {@code Route}'s counters and {@code SessionTable.sessions()}; forbidden
 * there: blocking, locks, allocation per event.
 */
package io.nioproxy.relay;
