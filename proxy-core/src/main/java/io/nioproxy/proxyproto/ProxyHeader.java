package io.nioproxy.proxyproto;

import java.net.InetSocketAddress;

/**
 * A parsed PROXY protocol header (HAProxy's PROXY protocol, versions 1 and 2).
 *
 * @param local       true for a v2 LOCAL command or a v1 {@code UNKNOWN} line: the connection's own addresses apply
 * @param source      the original client address, or null when {@code local} (or the family carries no IP address)
 * @param destination the address the client connected to, or null likewise
 * @param length      bytes the header took; what follows is payload
 */
public record ProxyHeader(boolean local, InetSocketAddress source, InetSocketAddress destination, int length) {
}
