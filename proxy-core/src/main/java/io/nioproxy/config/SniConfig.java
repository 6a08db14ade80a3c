package io.nioproxy.config;

import io.nioproxy.tls.ServerNameRules;

/**
 * A listener's routing by TLS server name: which pool each name goes to, where the rest go, and the bounds of the
 * wait for the ClientHello. Immutable.
 *
 * @param rules        server name to pool name
 * @param defaultPool  the pool of a hello no rule matches or without a name; null = the listener's own backends
 * @param timeoutNanos deadline for the whole hello
 * @param maxBytes     most bytes of TLS records the hello may take
 */
public record SniConfig(ServerNameRules<String> rules, String defaultPool, long timeoutNanos, int maxBytes) {
}
