package io.nioproxy.proxyproto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The PROXY protocol parser against the bug classes Netty's HAProxyMessageDecoderTest, Envoy's proxy_protocol tests
 * (CVE-2024-23327) and HAProxy's TLV validation tests describe, plus a fuzz loop bounded in time.
 */
class ProxyProtocolParserTest {
    static final int MAX = 4096;
    static final String FUZZ_ALPHABET = "0123456789.: \r\nPROXYTCUNK";

    static ProxyHeader parse(byte[] b) throws ProxyHeaderException {
        return ProxyProtocolParser.parse(ByteBuffer.wrap(b), MAX);
    }

    static ProxyHeader parse(String s) throws ProxyHeaderException {
        return parse(s.getBytes(StandardCharsets.ISO_8859_1));
    }

    static String reject(String s) {
        return assertThrows(ProxyHeaderException.class, () -> parse(s), s).getMessage();
    }

    static String reject(byte[] b) {
        return assertThrows(ProxyHeaderException.class, () -> parse(b)).getMessage();
    }

    static InetSocketAddress at(String ip, int port) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(ip), port);
    }

    @Test
    void v1Tcp4Tcp6AndUnknown() throws Exception {
        ProxyHeader h = parse("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n");
        assertEquals(at("192.0.2.1", 56324), h.source());
        assertEquals(at("198.51.100.2", 443), h.destination());
        assertEquals("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".length(), h.length(), "payload is left alone");
        h = parse("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
        assertEquals(at("2001:db8::1", 1), h.source());
        h = parse("PROXY TCP6 ::ffff:192.0.2.1 ::1 0 80\r\n");
        assertEquals(at("192.0.2.1", 0), h.source(), "IPv4-mapped");
        h = parse("PROXY UNKNOWN\r\n");
        assertTrue(h.local());
        h = parse("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n");
        assertTrue(h.local(), "UNKNOWN ignores the rest of the line");
    }

    @Test
    void v1LongestValidLineIs107Bytes() throws Exception {
        String longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assertEquals(104, longest.length());
        assertNotNull(parse(longest));
        String unknown107 = "PROXY UNKNOWN " + "x".repeat(107 - 16) + "\r\n";
        assertEquals(107, unknown107.length());
        assertTrue(parse(unknown107).local());
        assertTrue(reject("PROXY UNKNOWN " + "x".repeat(107 - 15) + "\r\n").contains("longer than 107"));
        assertTrue(reject("PROXY TCP4 " + "1".repeat(200)).contains("longer than 107"), "no CRLF within 107 bytes");
    }

    @Test
    void v1Malformed() {
        assertTrue(reject("PROXZ TCP4 1.1.1.1 2.2.2.2 1 2\r\n").contains("signature"));
        assertTrue(reject("GET / HTTP/1.1\r\n").contains("not a PROXY"));
        assertTrue(reject("PROXY TCP5 1.1.1.1 2.2.2.2 1 2\r\n").contains("protocol"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n").contains("fields"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.2 1 2 3\r\n").contains("fields"));
        assertTrue(reject("PROXY TCP4  1.1.1.1 2.2.2.2 1 2\r\n").contains("fields"), "double space");
        assertTrue(reject("PROXY TCP4 256.1.1.1 2.2.2.2 1 2\r\n").contains("IPv4"));
        assertTrue(reject("PROXY TCP4 01.1.1.1 2.2.2.2 1 2\r\n").contains("IPv4"), "leading zero");
        assertTrue(reject("PROXY TCP4 1.1.1 2.2.2.2 1 2\r\n").contains("IPv4"));
        assertTrue(reject("PROXY TCP4 ::1 2.2.2.2 1 2\r\n").contains("IPv4"), "v6 address in TCP4");
        assertTrue(reject("PROXY TCP6 localhost ::1 1 2\r\n").contains("IPv6"), "never a name");
        assertTrue(reject("PROXY TCP6 1.2.3.4 ::1 1 2\r\n").contains("IPv6"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.2 65536 2\r\n").contains("port"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.2 080 2\r\n").contains("port"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.2 -1 2\r\n").contains("port"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.2 1 2\n").contains("CRLF"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.2 1 2\rX\n").contains("CR"));
        assertTrue(reject("PROXY TCP4 1.1.1.1 2.2.2.\u00e92 1 2\r\n").contains("non-ASCII"));
    }

    static byte[] v2(int verCmd, int famProto, byte[] body) {
        byte[] out = new byte[16 + body.length];
        System.arraycopy(ProxyProtocolParser.V2_SIGNATURE, 0, out, 0, 12);
        out[12] = (byte) verCmd;
        out[13] = (byte) famProto;
        out[14] = (byte) (body.length >> 8);
        out[15] = (byte) body.length;
        System.arraycopy(body, 0, out, 16, body.length);
        return out;
    }

    static byte[] concat(byte[]... parts) {
        int n = Arrays.stream(parts).mapToInt(p -> p.length).sum();
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    static final byte[] INET_BODY = {(byte) 192, 0, 2, 1, (byte) 198, 51, 100, 2, (byte) 0xdc, 0x04, 0x01, (byte) 0xbb};

    @Test
    void v2InetInet6LocalAndTlvs() throws Exception {
        ProxyHeader h = parse(v2(0x21, 0x11, INET_BODY));
        assertEquals(at("192.0.2.1", 56324), h.source());
        assertEquals(at("198.51.100.2", 443), h.destination());
        assertEquals(28, h.length());
        byte[] tlvs = {0x01, 0x00, 0x02, 'h', '2', 0x04, 0x00, 0x00, (byte) 0xEE, 0x00, 0x01, 0x7f};
        h = parse(concat(v2(0x21, 0x11, concat(INET_BODY, tlvs)), "payload".getBytes()));
        assertEquals(at("192.0.2.1", 56324), h.source(), "TLVs (ALPN, NOOP, unknown type) are skipped");
        assertEquals(28 + tlvs.length, h.length(), "bytes after the header are payload");
        h = parse(v2(0x20, 0x00, new byte[0]));
        assertTrue(h.local(), "LOCAL: the connection's own addresses apply");
        h = parse(v2(0x20, 0x11, INET_BODY));
        assertTrue(h.local(), "LOCAL ignores a carried address");
        byte[] v6 = new byte[36];
        v6[15] = 1;
        v6[31] = 2;
        v6[33] = 80;
        v6[35] = 81;
        h = parse(v2(0x21, 0x21, v6));
        assertEquals(at("::1", 80), h.source());
        assertTrue(parse(v2(0x21, 0x31, new byte[216])).local(), "AF_UNIX carries no IP address");
        assertTrue(parse(v2(0x21, 0x00, new byte[0])).local(), "AF_UNSPEC");
    }

    @Test
    void v2Malformed() {
        byte[] badSig = v2(0x21, 0x11, INET_BODY);
        badSig[5] = 1;
        assertTrue(reject(badSig).contains("signature"));
        assertTrue(reject(v2(0x11, 0x11, INET_BODY)).contains("version"));
        assertTrue(reject(v2(0x31, 0x11, INET_BODY)).contains("version"));
        assertTrue(reject(v2(0x22, 0x11, INET_BODY)).contains("command"));
        assertTrue(reject(v2(0x21, 0x41, INET_BODY)).contains("family"));
        assertTrue(reject(v2(0x21, 0x12, INET_BODY)).contains("stream"), "UDP over a TCP listener");
        assertTrue(reject(v2(0x21, 0x11, Arrays.copyOf(INET_BODY, 8))).contains("does not fit"), "address block longer than length");
        assertTrue(reject(v2(0x21, 0x21, INET_BODY)).contains("does not fit"), "INET6 in 12 bytes");
        assertTrue(reject(v2(0x21, 0x11, concat(INET_BODY, new byte[] {0x01, 0x00}))).contains("TLV header"));
        assertTrue(reject(v2(0x21, 0x11, concat(INET_BODY, new byte[] {0x01, 0x00, 0x05, 'a'}))).contains("TLV value"));
        // CVE-2024-23327 class: a TLV whose length points beyond the header, with more bytes following the header
        byte[] lying = concat(v2(0x21, 0x11, concat(INET_BODY, new byte[] {0x02, 0x00, 0x10, 'x'})), new byte[32]);
        assertTrue(reject(lying).contains("TLV value"));
        byte[] huge = v2(0x21, 0x11, INET_BODY);
        huge[14] = (byte) 0xff;
        huge[15] = (byte) 0xff;
        assertTrue(assertThrows(ProxyHeaderException.class,
                () -> ProxyProtocolParser.parse(ByteBuffer.wrap(huge), 1024)).getMessage().contains("over the limit"));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"v1", "v2", "v2tlv"})
    void splitAtEveryByteWaitsThenParsesTheSame(String kind) throws Exception {
        byte[] header = switch (kind) {
            case "v1" -> "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".getBytes();
            case "v2" -> v2(0x21, 0x11, INET_BODY);
            default -> v2(0x21, 0x11, concat(INET_BODY, new byte[] {0x05, 0x00, 0x03, 1, 2, 3}));
        };
        byte[] withPayload = concat(header, "hello".getBytes());
        for (int cut = 0; cut < header.length; cut++) {
            assertNull(parse(Arrays.copyOf(withPayload, cut)), kind + " cut at " + cut + " needs more bytes");
        }
        for (int end = header.length; end <= withPayload.length; end++) {
            ProxyHeader h = parse(Arrays.copyOf(withPayload, end));
            assertEquals(at("192.0.2.1", 56324), h.source());
            assertEquals(header.length, h.length());
        }
    }

    @Test
    void encoderRoundTripsThroughTheParser() throws Exception {
        InetSocketAddress[][] pairs = {
                {at("192.0.2.1", 1234), at("198.51.100.2", 443)},
                {at("2001:db8::7", 65535), at("2001:db8::8", 0)},
                {at("192.0.2.1", 1234), at("2001:db8::8", 80)},
                {at("2001:db8::7", 1), at("127.0.0.1", 8080)},
        };
        for (InetSocketAddress[] p : pairs) {
            for (byte[] h : new byte[][] {ProxyProtocolEncoder.v1(p[0], p[1]), ProxyProtocolEncoder.v2(p[0], p[1])}) {
                ProxyHeader parsed = parse(concat(h, new byte[] {1, 2, 3}));
                assertEquals(p[0], parsed.source(), Arrays.toString(p));
                assertEquals(p[1], parsed.destination());
                assertEquals(h.length, parsed.length());
            }
        }
        assertTrue(parse(ProxyProtocolEncoder.v2Local()).local());
        assertTrue(ProxyProtocolEncoder.v1(pairs[0][0], pairs[0][1]).length <= ProxyProtocolParser.V1_MAX);
    }

    @Test
    void signatureSpotsBothVersionsAndWaitsOnAPrefix() {
        assertEquals(ProxyProtocolParser.HEADER, ProxyProtocolParser.signature(ByteBuffer.wrap("PROXY TCP4 ".getBytes())));
        byte[] v2 = v2(0x21, 0x11, INET_BODY);
        assertEquals(ProxyProtocolParser.HEADER, ProxyProtocolParser.signature(ByteBuffer.wrap(v2)));
        assertEquals(ProxyProtocolParser.NOT_A_HEADER,
                ProxyProtocolParser.signature(ByteBuffer.wrap("GET / HTTP/1.1\r\n".getBytes())));
        assertEquals(ProxyProtocolParser.NOT_A_HEADER, ProxyProtocolParser.signature(ByteBuffer.wrap("PROXIMITY".getBytes())));
        // every proper prefix of either signature is undecided, never "not a header"
        byte[] v1 = "PROXY ".getBytes();
        for (int k = 0; k < v1.length; k++) {
            assertEquals(ProxyProtocolParser.UNDECIDED, ProxyProtocolParser.signature(ByteBuffer.wrap(v1, 0, k)), "v1 " + k);
        }
        for (int k = 0; k < 12; k++) {
            assertEquals(ProxyProtocolParser.UNDECIDED, ProxyProtocolParser.signature(ByteBuffer.wrap(v2, 0, k)), "v2 " + k);
        }
        assertTrue(12 <= ProxyProtocolParser.SIGNATURE_MAX);
    }

    @Test
    void fuzzRandomAndMutatedHeadersParseOrRejectCleanlyNeverOtherwise() throws Exception {
        Random r = new Random(20261125);
        byte[][] seeds = {
                "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".getBytes(),
                "PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 1 2\r\n".getBytes(),
                "PROXY UNKNOWN\r\n".getBytes(),
                v2(0x21, 0x11, INET_BODY),
                v2(0x21, 0x11, concat(INET_BODY, new byte[] {0x01, 0x00, 0x02, 'h', '2', 0x20, 0x00, 0x01, 0x00})),
                v2(0x20, 0x00, new byte[0]),
        };
        long deadline = System.nanoTime() + 2_000_000_000L; // bounded: two seconds
        int runs = 0;
        int parsed = 0;
        while (System.nanoTime() < deadline) {
            byte[] input;
            if (r.nextInt(4) == 0) {
                input = new byte[r.nextInt(300)];
                r.nextBytes(input);
            } else {
                byte[] seed = seeds[r.nextInt(seeds.length)];
                input = Arrays.copyOf(seed, Math.max(0, seed.length + r.nextInt(40) - 20));
                int flips = 1 + r.nextInt(4);
                for (int i = 0; i < flips && input.length > 0; i++) {
                    int at = r.nextInt(input.length);
                    input[at] = switch (r.nextInt(3)) {
                        case 0 -> (byte) r.nextInt(256);
                        case 1 -> (byte) (input[at] ^ (1 << r.nextInt(8)));
                        default -> (byte) FUZZ_ALPHABET.charAt(r.nextInt(FUZZ_ALPHABET.length()));
                    };
                }
            }
            try {
                ProxyHeader h = ProxyProtocolParser.parse(ByteBuffer.wrap(input), MAX);
                if (h != null) {
                    parsed++;
                    assertTrue(h.length() > 0 && h.length() <= input.length, "a header never claims bytes it was not given");
                    assertTrue(h.local() || (h.source() != null && h.destination() != null));
                }
            } catch (ProxyHeaderException expected) {
                // a clean rejection
            }
            runs++;
        }
        assertTrue(runs > 10_000, "fuzz runs: " + runs);
        assertTrue(parsed > 0, "some mutations still parse: " + parsed);
    }
}
