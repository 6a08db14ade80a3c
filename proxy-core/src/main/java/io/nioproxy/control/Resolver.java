package io.nioproxy.control;

import io.nioproxy.config.ConfigException;
import io.nioproxy.config.HostPort;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Turns a configured {@code HOST:PORT} into backend addresses: an IP literal is one address; a host name is every
 * address it resolves to (how a Kubernetes headless Service or Consul DNS lists its endpoints).
 *
 * <p>Blocking DNS: start-up and control threads only, never a loop.
 */
public final class Resolver {
    private Resolver() {
    }

    /** @throws ConfigException naming {@code key} when the host does not resolve */
    public static List<InetSocketAddress> resolveAll(String key, HostPort hp) {
        try {
            return lookup(hp);
        } catch (UnknownHostException e) {
            throw ConfigException.bad(key, hp.toString(), "host '" + hp.host() + "' does not resolve");
        }
    }

    /** Every address of {@code hp}, de-duplicated, in the resolver's order. */
    public static List<InetSocketAddress> lookup(HostPort hp) throws UnknownHostException {
        LinkedHashSet<InetAddress> addresses = new LinkedHashSet<>(List.of(InetAddress.getAllByName(hp.host())));
        List<InetSocketAddress> out = new ArrayList<>();
        for (InetAddress a : addresses) {
            out.add(new InetSocketAddress(a, hp.port()));
        }
        return out;
    }

    /** Whether the host is an IP literal (never re-resolved). */
    public static boolean isLiteral(String host) {
        return host.indexOf(':') >= 0 || host.matches("[0-9.]+");
    }
}
