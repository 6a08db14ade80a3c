package io.nioproxy.config;

import io.nioproxy.balance.BalancePolicy;

import java.util.List;

/**
 * The resolved settings of one listener, or of one pool: a pool is what is behind a listener's accept (backends, their
 * choice, checks and connects) without an address of its own; listeners send clients to it by TLS server name.
 * Immutable; built once at start by {@link Settings}.
 *
 * @param name               listener name ({@code default} when {@code proxy.listeners} is not set)
 * @param listen             address to accept clients on; null for a pool (backends that listeners route to)
 * @param backends           backends in the order given (order never affects which client goes where)
 * @param balance            backend choice
 * @param connectTimeoutNanos backend connect timeout per attempt; 0 = none
 * @param idleTimeoutNanos   close a session with no byte in either direction for this long; 0 = never
 * @param connectAttempts    backends tried per client before it is closed
 * @param backlog            listen backlog
 * @param tcpNoDelay         {@code TCP_NODELAY} on both legs
 * @param socketRcvBufBytes  {@code SO_RCVBUF} on both legs; 0 = the kernel's default (auto-tuning)
 * @param socketSndBufBytes  {@code SO_SNDBUF} on both legs; 0 = the kernel's default (auto-tuning)
 * @param health             health checks
 * @param affinityTtlNanos   how long a client's backend is remembered after its last connection; 0 = no table
 * @param affinityMax        clients remembered at most
 * @param backendsFile       file of backends re-read when it changes; null = none
 * @param dnsRefreshNanos    re-resolve host-name backends this often; 0 = once at start
 * @param drainTimeoutNanos  default deadline of a drain; 0 = none (sessions run to their end)
 * @param protection         PROXY protocol, limits, timeouts for hostile or dead peers
 * @param sni                routing by TLS server name to pools; null = none (the listener's own backends)
 * @param rebalance          moving sessions after scale-out
 * @param slowStartNanos     least-conn and round-robin: a backend that joins ramps up over this long; 0 = off
 * @param effective          every listener key (name after {@code proxy.}) with its effective text, for the
 *                           start-up line
 */
public record ListenerConfig(
        String name,
        HostPort listen,
        List<BackendSpec> backends,
        BalancePolicy balance,
        long connectTimeoutNanos,
        long idleTimeoutNanos,
        int connectAttempts,
        int backlog,
        boolean tcpNoDelay,
        int socketRcvBufBytes,
        int socketSndBufBytes,
        HealthConfig health,
        long affinityTtlNanos,
        int affinityMax,
        String backendsFile,
        long dnsRefreshNanos,
        long drainTimeoutNanos,
        Protection protection,
        SniConfig sni,
        RebalanceConfig rebalance,
        long slowStartNanos,
        java.util.Map<String, String> effective) {

    public ListenerConfig {
        backends = List.copyOf(backends);
        effective = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(effective));
    }

    /** A pool: backends behind the listeners that route to it, with no address of its own. */
    public boolean pool() {
        return listen == null;
    }
}
