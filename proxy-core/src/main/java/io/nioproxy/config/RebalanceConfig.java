package io.nioproxy.config;

/**
 * When and how fast a listener's (or pool's) sessions are rebalanced after its backends change. Immutable.
 *
 * @param automatic    rebalance on its own (a backend joined or came back; a lasting spread); off: only by hand
 * @param tolerance    the spread to bring the backends under, and the one that triggers after {@code afterNanos}
 * @param ratePerSecond clients asked to reconnect per second at most
 * @param maxShare     most sessions one rebalance moves, as a share of all the backends' sessions
 * @param settleNanos  the backend set must be unchanged this long before a rebalance starts
 * @param afterNanos   a spread over the tolerance this long starts one; 0 = only backend changes do
 */
public record RebalanceConfig(boolean automatic, double tolerance, double ratePerSecond, double maxShare,
                              long settleNanos, long afterNanos) {
}
