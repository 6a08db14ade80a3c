/**
 * Rebalancing long-lived sessions after scale-out: which clients to ask to reconnect so that the spread of sessions
 * over the backends falls under a tolerance ({@code MoveSelector}, pure), and the paced execution of a plan on the
 * control thread ({@code Rebalancer}).
 *
 * <p>Threading: {@code MoveSelector} is stateless; {@code Rebalancer} runs on the control thread, reads the loops'
 * session snapshots, and closes sessions through tasks on their loops.
 */
package io.nioproxy.rebalance;
