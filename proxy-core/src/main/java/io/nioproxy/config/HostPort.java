package io.nioproxy.config;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * A parsed {@code HOST:PORT} (IPv6 as {@code [::1]:PORT}). Immutable; any thread.
 *
 * <p>The host is kept as written, because a backend's identity — what the Maglev table hashes — is the text the
 * operator gave, so that every balancer instance given the same list builds the same table.
 */
public record HostPort(String host, int port) {

    /** Parses {@code text} (port 1..65535); errors name {@code key}. */
    public static HostPort parse(String key, String text) {
        return parse(key, text, false);
    }

    /**
     * Parses {@code text}; errors name {@code key}.
     *
     * @param allowAnyPort accept port 0 (a listener on an ephemeral port: tests, the demo)
     */
    public static HostPort parse(String key, String text, boolean allowAnyPort) {
        String t = text.trim();
        int colon = t.lastIndexOf(':');
        if (colon <= 0 || colon == t.length() - 1) {
            throw ConfigException.bad(key, text, "expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080");
        }
        String host = t.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.indexOf(':') >= 0) {
            throw ConfigException.bad(key, text, "an IPv6 address must be in brackets, e.g. [::1]:8080");
        }
        if (host.isEmpty() || host.chars().anyMatch(Character::isWhitespace)) {
            throw ConfigException.bad(key, text, "expected HOST:PORT with a non-empty host");
        }
        int port;
        try {
            port = Integer.parseInt(t.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw ConfigException.bad(key, text, "the port must be a number from 1 to 65535");
        }
        if (port < (allowAnyPort ? 0 : 1) || port > 65535) {
            throw ConfigException.bad(key, text, "the port must be a number from " + (allowAnyPort ? 0 : 1) + " to 65535");
        }
        return new HostPort(host, port);
    }

    /** Resolves the host now (blocking DNS: start-up only); errors name {@code key}. */
    public InetSocketAddress resolve(String key) {
        try {
            return new InetSocketAddress(InetAddress.getByName(host), port);
        } catch (UnknownHostException e) {
            throw ConfigException.bad(key, toString(), "host '" + host + "' does not resolve");
        }
    }

    @Override
    public String toString() {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }
}
