package io.nioproxy.relay;

import io.nioproxy.tls.ServerNameRules;

/**
 * A listener's routing by TLS server name, resolved to the routes of its pools: where each name goes, where every
 * other hello goes, and the bounds of the wait for one.
 *
 * <p>Threading: immutable; built at start-up, read by the loops.
 *
 * @param rules        server name to the route of a pool
 * @param fallback     the route of a hello no rule matches or without a name (a pool, or the listener's own)
 * @param timeoutNanos deadline for the whole hello
 * @param maxBytes     most bytes of TLS records the hello may take (at most a buffer)
 */
public record SniRoutes(ServerNameRules<Route> rules, Route fallback, long timeoutNanos, int maxBytes) {
    /** The route of {@code serverName} (null: the hello had none). */
    Route of(String serverName) {
        Route r = serverName == null ? null : rules.match(serverName);
        return r != null ? r : fallback;
    }
}
