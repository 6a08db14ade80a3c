package io.nioproxy.balance;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;

/**
 * The fixed hash functions behind backend choice. They must never change between versions or JVMs: two balancer
 * instances agree on where a client goes only because they compute the same numbers (no {@code String.hashCode},
 * no random seed). FNV-1a over the bytes, finished with the MurmurHash3 64-bit finaliser for avalanche.
 *
 * <p>Stateless; any thread.
 */
public final class Hashing {
    private static final long FNV_OFFSET = 0xcbf29ce484222325L;
    private static final long FNV_PRIME = 0x100000001b3L;

    private Hashing() {
    }

    /** MurmurHash3 fmix64: every input bit affects every output bit. */
    public static long mix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        k *= 0xc4ceb9fe1a85ec53L;
        k ^= k >>> 33;
        return k;
    }

    public static long hash(byte[] bytes, long seed) {
        return mix(fnv1a(bytes, seed));
    }

    /** FNV-1a over the bytes, without the finaliser: enough for a digest that is only compared for equality. */
    public static long fnv1a(byte[] bytes, long seed) {
        long h = FNV_OFFSET ^ seed;
        for (byte b : bytes) {
            h ^= b & 0xff;
            h *= FNV_PRIME;
        }
        return h;
    }

    public static long hash(String text, long seed) {
        return hash(text.getBytes(StandardCharsets.UTF_8), seed);
    }

    /**
     * The client key: the IP address bytes (4 or 16), plus the port when {@code port >= 0}. An IPv4-mapped IPv6
     * address arrives from the JDK as an {@code Inet4Address}, so it hashes like the IPv4 address it carries.
     */
    public static long clientHash(InetAddress address, int port) {
        long h = FNV_OFFSET;
        if (address instanceof java.net.Inet4Address) {
            // Inet4Address.hashCode() is the address itself (big-endian int): the same four bytes as getAddress(),
            // without the array copy getAddress() allocates per call.
            int v4 = address.hashCode();
            for (int shift = 24; shift >= 0; shift -= 8) {
                h ^= (v4 >>> shift) & 0xff;
                h *= FNV_PRIME;
            }
        } else {
            for (byte b : address.getAddress()) {
                h ^= b & 0xff;
                h *= FNV_PRIME;
            }
        }
        if (port >= 0) {
            h ^= port >>> 8;
            h *= FNV_PRIME;
            h ^= port & 0xff;
            h *= FNV_PRIME;
        }
        return mix(h);
    }
}
