/**
 * Choosing a backend: the Maglev table, immutable {@code BackendSet} snapshots, the policies, the affinity table,
 * and the registry that changes backends.
 *
 * <p>Threading: Loops read published snapshots without locks; the registry is changed by the control and admin
 * threads under its monitor.
 */
package io.nioproxy.balance;
