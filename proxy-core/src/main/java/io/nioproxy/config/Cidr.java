package io.nioproxy.config;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An address range ({@code 10.0.0.0/8}, {@code 2001:db8::/32}, or one address). Immutable; any thread.
 * An IPv4-mapped IPv6 client address arrives from the JDK as IPv4, so it matches IPv4 ranges.
 */
public record Cidr(byte[] network, int prefix) {

    public static Cidr parse(String key, String text) {
        String t = text.trim();
        int slash = t.indexOf('/');
        String host = slash < 0 ? t : t.substring(0, slash);
        if (host.isEmpty() || !host.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == '.' || c == ':')) {
            throw ConfigException.bad(key, text, "expected an address or CIDR range such as 10.0.0.0/8 or ::1/128");
        }
        byte[] addr;
        try {
            addr = InetAddress.getByName(host).getAddress(); // a literal: checked above, never a DNS lookup
        } catch (UnknownHostException e) {
            throw ConfigException.bad(key, text, "expected an address or CIDR range such as 10.0.0.0/8 or ::1/128");
        }
        int prefix = addr.length * 8;
        if (slash >= 0) {
            try {
                prefix = Integer.parseInt(t.substring(slash + 1));
            } catch (NumberFormatException e) {
                prefix = -1;
            }
            if (prefix < 0 || prefix > addr.length * 8) {
                throw ConfigException.bad(key, text, "the prefix length must be 0.." + addr.length * 8);
            }
        }
        return new Cidr(addr, prefix);
    }

    public boolean contains(InetAddress a) {
        byte[] b = a.getAddress();
        if (b.length != network.length) {
            return false;
        }
        int full = prefix / 8;
        for (int i = 0; i < full; i++) {
            if (b[i] != network[i]) {
                return false;
            }
        }
        int rest = prefix % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xff << (8 - rest)) & 0xff;
        return (b[full] & mask) == (network[full] & mask);
    }

    @Override
    public String toString() {
        try {
            return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
        } catch (UnknownHostException e) {
            return "?";
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr c && c.prefix == prefix && java.util.Arrays.equals(c.network, network);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(network) * 31 + prefix;
    }
}
