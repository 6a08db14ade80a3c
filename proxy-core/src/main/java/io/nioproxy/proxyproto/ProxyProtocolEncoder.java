package io.nioproxy.proxyproto;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Writes the PROXY protocol header nioproxy sends to a backend ({@code proxy.proxy.protocol=v1|v2}), so that a
 * WebSocket server behind this L4 balancer still sees the real client address. When one address is IPv4 and the
 * other IPv6, the IPv4 one is written as an IPv4-mapped IPv6 address ({@code ::ffff:a.b.c.d}).
 *
 * <p>Stateless; any thread (called once per backend connection, on its loop).
 */
public final class ProxyProtocolEncoder {
    private ProxyProtocolEncoder() {
    }

    public static byte[] v1(InetSocketAddress src, InetSocketAddress dst) {
        boolean v4 = src.getAddress() instanceof Inet4Address && dst.getAddress() instanceof Inet4Address;
        String line = "PROXY " + (v4 ? "TCP4 " : "TCP6 ") + text(src.getAddress(), v4) + " " + text(dst.getAddress(), v4)
                + " " + src.getPort() + " " + dst.getPort() + "\r\n";
        return line.getBytes(StandardCharsets.US_ASCII);
    }

    public static byte[] v2(InetSocketAddress src, InetSocketAddress dst) {
        boolean v4 = src.getAddress() instanceof Inet4Address && dst.getAddress() instanceof Inet4Address;
        int addrLen = v4 ? 12 : 36;
        byte[] out = new byte[ProxyProtocolParser.V2_FIXED + addrLen];
        System.arraycopy(ProxyProtocolParser.V2_SIGNATURE, 0, out, 0, 12);
        out[12] = 0x21; // version 2, PROXY
        out[13] = (byte) (v4 ? 0x11 : 0x21); // INET or INET6, STREAM
        out[14] = 0;
        out[15] = (byte) addrLen;
        int a = ProxyProtocolParser.V2_FIXED;
        byte[] s = raw(src.getAddress(), v4);
        byte[] d = raw(dst.getAddress(), v4);
        System.arraycopy(s, 0, out, a, s.length);
        System.arraycopy(d, 0, out, a + s.length, d.length);
        int ports = a + 2 * s.length;
        out[ports] = (byte) (src.getPort() >> 8);
        out[ports + 1] = (byte) src.getPort();
        out[ports + 2] = (byte) (dst.getPort() >> 8);
        out[ports + 3] = (byte) dst.getPort();
        return out;
    }

    /** A v2 LOCAL header: the backend should use the connection's own addresses (health checks do this). */
    public static byte[] v2Local() {
        byte[] out = new byte[ProxyProtocolParser.V2_FIXED];
        System.arraycopy(ProxyProtocolParser.V2_SIGNATURE, 0, out, 0, 12);
        out[12] = 0x20;
        out[13] = 0x00;
        return out;
    }

    private static String text(InetAddress a, boolean v4) {
        if (v4) {
            return a.getHostAddress();
        }
        if (a instanceof Inet4Address) {
            return "::ffff:" + a.getHostAddress();
        }
        String h = a.getHostAddress();
        int pct = h.indexOf('%'); // a scope id has no place in the header
        return pct < 0 ? h : h.substring(0, pct);
    }

    private static byte[] raw(InetAddress a, boolean v4) {
        byte[] b = a.getAddress();
        if (v4 || b.length == 16) {
            return b;
        }
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        System.arraycopy(b, 0, mapped, 12, 4);
        return mapped;
    }
}
