package io.nioproxy.proxyproto;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Parses a PROXY protocol header (v1 text, v2 binary) from the first bytes of a connection, incrementally: call it
 * again with more bytes until it answers. It never reads past the header, never trusts a length it has not checked,
 * and never resolves a name.
 *
 * <p>The bug classes it is written against (Netty's HAProxyMessageDecoder tests, Envoy's proxy_protocol tests and
 * CVE-2024-23327, HAProxy's TLV validation): a v1 line longer than 107 bytes or without CRLF; bad signature,
 * protocol, address, port or field count; a v2 version other than 2, a command other than LOCAL/PROXY, an address
 * block longer than the declared length, a TLV that runs past the end; a header split at any byte.
 *
 * <p>Stateless; any thread.
 */
public final class ProxyProtocolParser {
    /** The 12-byte v2 signature. */
    static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    static final byte[] V1_PREFIX = "PROXY ".getBytes(StandardCharsets.US_ASCII);
    /** The v1 maximum, CRLF included (the spec's 107 bytes). */
    public static final int V1_MAX = 107;
    public static final int V2_FIXED = 16;

    private ProxyProtocolParser() {
    }

    /**
     * @param in        the bytes received so far, from position to limit (not changed)
     * @param maxLength the largest header accepted (a v2 header is 16 bytes plus its declared length)
     * @return the header, or null when more bytes are needed
     * @throws ProxyHeaderException when the bytes cannot start or be a valid header
     */
    public static ProxyHeader parse(ByteBuffer in, int maxLength) throws ProxyHeaderException {
        int n = in.remaining();
        int p = in.position();
        if (n == 0) {
            return null;
        }
        if (in.get(p) == V2_SIGNATURE[0]) {
            return parseV2(in, p, n, maxLength);
        }
        if (in.get(p) == 'P') {
            return parseV1(in, p, n);
        }
        throw new ProxyHeaderException("not a PROXY protocol header");
    }

    /** {@link #signature}: the bytes cannot start a PROXY header. */
    public static final int NOT_A_HEADER = -1;
    /** {@link #signature}: every byte so far matches a signature's start; more are needed to tell. */
    public static final int UNDECIDED = 0;
    /** {@link #signature}: the bytes start with a whole v1 prefix ({@code "PROXY "}) or v2 signature. */
    public static final int HEADER = 1;

    /**
     * Whether a connection's first bytes are a PROXY header's signature, for refusing one from a client that is not
     * trusted to send it. A client chooses how its bytes are segmented, so a prefix of a signature is
     * {@link #UNDECIDED}, never "not a header": deciding early let a header split after its first bytes through.
     *
     * @param in the bytes received so far, from position to limit (not changed)
     * @return {@link #NOT_A_HEADER}, {@link #UNDECIDED} or {@link #HEADER}
     */
    public static int signature(ByteBuffer in) {
        int n = in.remaining();
        if (n == 0) {
            return UNDECIDED;
        }
        int p = in.position();
        byte[] sig = in.get(p) == V1_PREFIX[0] ? V1_PREFIX : V2_SIGNATURE;
        int check = Math.min(n, sig.length);
        for (int i = 0; i < check; i++) {
            if (in.get(p + i) != sig[i]) {
                return NOT_A_HEADER;
            }
        }
        return check == sig.length ? HEADER : UNDECIDED;
    }

    /** The most bytes {@link #signature} can need before it decides. */
    public static final int SIGNATURE_MAX = V2_SIGNATURE.length;

    private static ProxyHeader parseV1(ByteBuffer in, int p, int n) throws ProxyHeaderException {
        int check = Math.min(n, V1_PREFIX.length);
        for (int i = 0; i < check; i++) {
            if (in.get(p + i) != V1_PREFIX[i]) {
                throw new ProxyHeaderException("bad v1 signature");
            }
        }
        int end = -1;
        int limit = Math.min(n, V1_MAX);
        for (int i = 0; i < limit; i++) {
            byte b = in.get(p + i);
            if (b == '\n') {
                if (i == 0 || in.get(p + i - 1) != '\r') {
                    throw new ProxyHeaderException("v1 line ends without CRLF");
                }
                end = i + 1;
                break;
            }
            if (b == '\r' && i + 1 < limit && in.get(p + i + 1) != '\n') {
                throw new ProxyHeaderException("v1 line has a CR not followed by LF");
            }
            if (b == 0 || (b & 0x80) != 0) {
                throw new ProxyHeaderException("v1 line has a non-ASCII byte");
            }
        }
        if (end < 0) {
            if (n >= V1_MAX) {
                throw new ProxyHeaderException("v1 line longer than " + V1_MAX + " bytes");
            }
            return null;
        }
        byte[] raw = new byte[end - 2];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = in.get(p + i);
        }
        String line = new String(raw, StandardCharsets.US_ASCII);
        String[] f = line.split(" ", -1);
        if (f.length >= 2 && f[1].equals("UNKNOWN")) {
            return new ProxyHeader(true, null, null, end);
        }
        if (f.length != 6) {
            throw new ProxyHeaderException("v1 line has " + f.length + " fields, not 6");
        }
        boolean v4;
        if (f[1].equals("TCP4")) {
            v4 = true;
        } else if (f[1].equals("TCP6")) {
            v4 = false;
        } else {
            throw new ProxyHeaderException("v1 protocol '" + f[1] + "' is not TCP4, TCP6 or UNKNOWN");
        }
        InetAddress src = v4 ? ipv4(f[2]) : ipv6(f[2]);
        InetAddress dst = v4 ? ipv4(f[3]) : ipv6(f[3]);
        int sport = port(f[4]);
        int dport = port(f[5]);
        return new ProxyHeader(false, new InetSocketAddress(src, sport), new InetSocketAddress(dst, dport), end);
    }

    private static InetAddress ipv4(String s) throws ProxyHeaderException {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            throw new ProxyHeaderException("bad IPv4 address");
        }
        byte[] b = new byte[4];
        for (int i = 0; i < 4; i++) {
            String part = parts[i];
            if (part.isEmpty() || part.length() > 3 || (part.length() > 1 && part.charAt(0) == '0')
                    || !part.chars().allMatch(Character::isDigit)) {
                throw new ProxyHeaderException("bad IPv4 address");
            }
            int v = Integer.parseInt(part);
            if (v > 255) {
                throw new ProxyHeaderException("bad IPv4 address");
            }
            b[i] = (byte) v;
        }
        try {
            return InetAddress.getByAddress(b);
        } catch (UnknownHostException e) {
            throw new ProxyHeaderException("bad IPv4 address");
        }
    }

    private static InetAddress ipv6(String s) throws ProxyHeaderException {
        if (s.isEmpty() || s.length() > 45 || s.indexOf(':') < 0
                || !s.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == ':' || c == '.')) {
            throw new ProxyHeaderException("bad IPv6 address");
        }
        try {
            // a literal (checked above: hex digits, colons and dots only), so no name is ever looked up
            InetAddress a = InetAddress.getByName(s);
            if (!(a instanceof Inet6Address) && !(a instanceof Inet4Address && s.indexOf(':') >= 0)) {
                throw new ProxyHeaderException("bad IPv6 address");
            }
            return a;
        } catch (UnknownHostException | IllegalArgumentException e) {
            throw new ProxyHeaderException("bad IPv6 address");
        }
    }

    private static int port(String s) throws ProxyHeaderException {
        if (s.isEmpty() || s.length() > 5 || (s.length() > 1 && s.charAt(0) == '0')
                || !s.chars().allMatch(Character::isDigit)) {
            throw new ProxyHeaderException("bad port");
        }
        int v = Integer.parseInt(s);
        if (v > 65535) {
            throw new ProxyHeaderException("bad port");
        }
        return v;
    }

    private static ProxyHeader parseV2(ByteBuffer in, int p, int n, int maxLength) throws ProxyHeaderException {
        int check = Math.min(n, V2_SIGNATURE.length);
        for (int i = 0; i < check; i++) {
            if (in.get(p + i) != V2_SIGNATURE[i]) {
                throw new ProxyHeaderException("bad v2 signature");
            }
        }
        if (n < V2_FIXED) {
            if (n > 12) {
                checkVersionAndFamily(in, p, n);
            }
            return null;
        }
        checkVersionAndFamily(in, p, n);
        int verCmd = in.get(p + 12) & 0xff;
        int famProto = in.get(p + 13) & 0xff;
        int len = ((in.get(p + 14) & 0xff) << 8) | (in.get(p + 15) & 0xff);
        int total = V2_FIXED + len;
        if (total > maxLength) {
            throw new ProxyHeaderException("v2 header of " + total + " bytes is over the limit of " + maxLength);
        }
        if (n < total) {
            return null;
        }
        boolean local = (verCmd & 0x0f) == 0;
        int family = famProto >> 4;
        int addrLen = switch (family) {
            case 1 -> 12;
            case 2 -> 36;
            case 3 -> 216;
            default -> 0;
        };
        if (len < addrLen) {
            throw new ProxyHeaderException("v2 address block of " + addrLen + " bytes does not fit the declared length " + len);
        }
        // every TLV after the addresses must lie inside the declared length; unknown types are skipped
        int t = p + V2_FIXED + addrLen;
        int end = p + total;
        while (t < end) {
            if (end - t < 3) {
                throw new ProxyHeaderException("v2 TLV header runs past the end");
            }
            int tlvLen = ((in.get(t + 1) & 0xff) << 8) | (in.get(t + 2) & 0xff);
            if (tlvLen > end - t - 3) {
                throw new ProxyHeaderException("v2 TLV value runs past the end");
            }
            t += 3 + tlvLen;
        }
        if (local || family == 0 || family == 3) {
            return new ProxyHeader(true, null, null, total);
        }
        int a = p + V2_FIXED;
        try {
            if (family == 1) {
                byte[] s = bytes(in, a, 4);
                byte[] d = bytes(in, a + 4, 4);
                return new ProxyHeader(false, new InetSocketAddress(InetAddress.getByAddress(s), u16(in, a + 8)),
                        new InetSocketAddress(InetAddress.getByAddress(d), u16(in, a + 10)), total);
            }
            byte[] s = bytes(in, a, 16);
            byte[] d = bytes(in, a + 16, 16);
            return new ProxyHeader(false, new InetSocketAddress(InetAddress.getByAddress(s), u16(in, a + 32)),
                    new InetSocketAddress(InetAddress.getByAddress(d), u16(in, a + 34)), total);
        } catch (UnknownHostException e) {
            throw new ProxyHeaderException("v2 address: " + e.getMessage());
        }
    }

    private static void checkVersionAndFamily(ByteBuffer in, int p, int n) throws ProxyHeaderException {
        int verCmd = in.get(p + 12) & 0xff;
        if ((verCmd >> 4) != 2) {
            throw new ProxyHeaderException("v2 version " + (verCmd >> 4) + " is not 2");
        }
        int cmd = verCmd & 0x0f;
        if (cmd > 1) {
            throw new ProxyHeaderException("v2 command " + cmd + " is not LOCAL or PROXY");
        }
        if (n > 13) {
            int famProto = in.get(p + 13) & 0xff;
            int family = famProto >> 4;
            int proto = famProto & 0x0f;
            if (family > 3) {
                throw new ProxyHeaderException("v2 address family " + family + " is unknown");
            }
            if (proto > 2 || (cmd == 1 && proto == 2)) {
                throw new ProxyHeaderException("v2 transport " + proto + " is not a stream");
            }
        }
    }

    private static byte[] bytes(ByteBuffer in, int at, int len) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = in.get(at + i);
        }
        return b;
    }

    private static int u16(ByteBuffer in, int at) {
        return ((in.get(at) & 0xff) << 8) | (in.get(at + 1) & 0xff);
    }
}
