package io.nioproxy.sys;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@code struct sockaddr_in} / {@code sockaddr_in6} in a direct buffer, to and from {@link InetSocketAddress};
 * {@code struct sockaddr_un} for a Unix-domain path. Stateless; the buffer belongs to the caller's thread.
 */
public final class SockAddr {
    /** Room for either family. */
    public static final int CAPACITY = 28;

    private SockAddr() {
    }

    /**
     * {@code struct sockaddr_un} for {@code path}, as long as the address is (its limit): a file system path, or,
     * written with a leading {@code @} as systemd writes them, a name in the abstract namespace (a NUL byte first, no
     * NUL after).
     */
    public static ByteBuffer unix(String path) throws java.io.IOException {
        boolean abstractName = path.startsWith("@");
        byte[] p = (abstractName ? path.substring(1) : path).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (p.length > 107) {
            throw new java.io.IOException("Unix-domain socket path too long (107 bytes at most): " + path);
        }
        ByteBuffer a = ByteBuffer.allocateDirect(2 + p.length + 1).order(ByteOrder.nativeOrder());
        a.putShort((short) Linux.AF_UNIX);
        if (abstractName) {
            a.put((byte) 0).put(p);
        } else {
            a.put(p).put((byte) 0);
        }
        return a.flip();
    }

    /** Writes {@code a} at offset 0 of {@code buf}; returns its length (16 or 28). */
    public static int encode(InetSocketAddress a, ByteBuffer buf) {
        InetAddress ip = a.getAddress();
        if (ip == null) {
            throw new IllegalArgumentException("unresolved address " + a);
        }
        for (int i = 0; i < CAPACITY; i++) {
            buf.put(i, (byte) 0);
        }
        boolean v4 = ip instanceof Inet4Address;
        buf.order(ByteOrder.nativeOrder()).putShort(0, (short) (v4 ? Linux.AF_INET : Linux.AF_INET6));
        buf.order(ByteOrder.BIG_ENDIAN).putShort(2, (short) a.getPort());
        byte[] raw = ip.getAddress();
        if (v4) {
            buf.put(4, raw);
            return 16;
        }
        buf.put(8, raw);
        if (ip instanceof Inet6Address i6) {
            buf.order(ByteOrder.nativeOrder()).putInt(24, i6.getScopeId());
        }
        return 28;
    }

    /** Reads the address at offset 0 of {@code buf} (as accept4 or getsockname wrote it). */
    public static InetSocketAddress decode(ByteBuffer buf) {
        int family = buf.order(ByteOrder.nativeOrder()).getShort(0);
        int port = buf.order(ByteOrder.BIG_ENDIAN).getShort(2) & 0xffff;
        try {
            if (family == Linux.AF_INET) {
                byte[] raw = new byte[4];
                buf.get(4, raw);
                return new InetSocketAddress(InetAddress.getByAddress(raw), port);
            }
            if (family == Linux.AF_INET6) {
                byte[] raw = new byte[16];
                buf.get(8, raw);
                // a v4-mapped address comes back as an Inet4Address, as the JDK's own accept reports it
                return new InetSocketAddress(InetAddress.getByAddress(raw), port);
            }
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // cannot happen for 4 or 16 bytes
        }
        throw new IllegalArgumentException("address family " + family);
    }
}
