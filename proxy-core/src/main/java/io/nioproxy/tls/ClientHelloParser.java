package io.nioproxy.tls;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Reads the server name (SNI, RFC 6066) from a TLS ClientHello in the first bytes a client sent, without consuming
 * them: call it again, over the same bytes and more, until it answers. The hello may arrive split at any byte and may
 * span several TLS records (RFC 8446 5.1 allows a handshake message to be fragmented across records); nothing is read
 * past the buffer's limit, no length is trusted before it is checked against what contains it, and anything that is
 * not a well-formed hello is an answer, never an exception.
 *
 * <p>Cost: each call walks the record headers received so far (a few, for any real client) and waits, in O(1) per
 * record, until the whole hello is there; only then are its bytes copied, once, into a scratch array to parse.
 * A client that sends its hello a byte at a time therefore costs O(records) per segment, not O(bytes).
 *
 * <p>Threading: one instance per loop thread (its scratch array and the last name are reused per call).
 */
public final class ClientHelloParser {
    /** More bytes are needed. */
    public static final int NEED_MORE = 0;
    /** A complete hello with a host name: {@link #serverName()}. */
    public static final int FOUND = 1;
    /** A complete hello without a host name (no server_name extension, or no host_name entry in it). */
    public static final int NO_NAME = 2;
    /** The bytes do not start a TLS handshake record (plain HTTP, another protocol, garbage). */
    public static final int NOT_TLS = -1;
    /** A TLS handshake that is not a well-formed ClientHello (bad length, truncated field, bad name). */
    public static final int MALFORMED = -2;
    /** The hello needs more than the cap allows. */
    public static final int TOO_LARGE = -3;

    /** TLS's largest record fragment (RFC 8446 5.1). */
    static final int MAX_FRAGMENT = 1 << 14;
    private static final int RECORD_HEADER = 5;
    private static final int HANDSHAKE = 0x16;
    private static final int CLIENT_HELLO = 1;
    private static final int SERVER_NAME = 0;
    private static final int HOST_NAME = 0;
    /** RFC 1035: a name has at most 255 octets. */
    static final int MAX_NAME = 255;

    private final byte[] scratch;
    private String serverName;

    /** @param capacity the largest cap a call may give: most bytes of TLS records (headers included) of a hello */
    public ClientHelloParser(int capacity) {
        if (capacity < RECORD_HEADER + 4) {
            throw new IllegalArgumentException("a hello cap below " + (RECORD_HEADER + 4) + " bytes: " + capacity);
        }
        this.scratch = new byte[capacity];
    }

    /** The capacity given at construction. */
    public int capacity() {
        return scratch.length;
    }

    /** The host name of the last {@link #FOUND} answer: ASCII, lower case, without a trailing dot. */
    public String serverName() {
        return serverName;
    }

    /** A word for an answer, for logs and errors. */
    public static String describe(int answer) {
        return switch (answer) {
            case NEED_MORE -> "incomplete";
            case FOUND -> "server name";
            case NO_NAME -> "no server name";
            case NOT_TLS -> "not a TLS handshake";
            case MALFORMED -> "malformed ClientHello";
            case TOO_LARGE -> "ClientHello over the cap";
            default -> "answer " + answer;
        };
    }

    /**
     * @param in the client's bytes so far, from position to limit (neither is changed)
     * @return {@link #NEED_MORE}, {@link #FOUND}, {@link #NO_NAME}, {@link #NOT_TLS}, {@link #MALFORMED} or
     *         {@link #TOO_LARGE}
     */
    public int parse(ByteBuffer in) {
        return parse(in, scratch.length);
    }

    /**
     * {@link #parse(ByteBuffer)} with a smaller cap.
     *
     * @param max most bytes of TLS records the hello may take, at most the capacity
     */
    public int parse(ByteBuffer in, int max) {
        if (max > scratch.length || max < RECORD_HEADER + 4) {
            throw new IllegalArgumentException("cap " + max + " outside 9.." + scratch.length);
        }
        serverName = null;
        final int start = in.position();
        final int end = in.limit();
        if (end == start) {
            return NEED_MORE;
        }
        if (u8(in, start) != HANDSHAKE || (end - start >= 2 && u8(in, start + 1) != 3)) {
            return NOT_TLS;
        }
        int p = start;
        int header = 0; // the handshake header's four bytes, gathered across records
        int headerBytes = 0;
        int needed = -1; // the handshake message's length with its header, once known
        int gathered = 0;
        while (true) {
            if (end - p < RECORD_HEADER) {
                return p + RECORD_HEADER - start > max ? TOO_LARGE : NEED_MORE;
            }
            if (u8(in, p) != HANDSHAKE || u8(in, p + 1) != 3) {
                // a first record is screened above; a later one that is not a handshake cuts the hello short
                return p == start ? NOT_TLS : MALFORMED;
            }
            int length = u16(in, p + 3);
            if (length == 0 || length > MAX_FRAGMENT) {
                return MALFORMED; // RFC 8446 5.1: no empty handshake fragment; no fragment over 2^14
            }
            int fragment = p + RECORD_HEADER;
            int present = Math.min(length, end - fragment);
            for (int i = 0; i < present && headerBytes < 4; i++, headerBytes++) {
                header = header << 8 | u8(in, fragment + i);
            }
            if (headerBytes == 4 && needed < 0) {
                if (header >>> 24 != CLIENT_HELLO) {
                    return MALFORMED;
                }
                needed = 4 + (header & 0xFFFFFF);
            }
            // the least input the hello can need: the rest of it in this record, with no more record headers
            int neededEnd = needed < 0 ? fragment + length : fragment + (needed - gathered);
            if (neededEnd - start > max) {
                return TOO_LARGE;
            }
            gathered += present;
            if (needed >= 0 && gathered >= needed) {
                return parseHello(in, start, needed);
            }
            if (present < length) {
                return NEED_MORE;
            }
            p = fragment + length;
        }
    }

    /** Every byte of the hello is in: gather the fragments into the scratch array and read the hello from it. */
    private int parseHello(ByteBuffer in, int start, int needed) {
        int copied = 0;
        for (int p = start; copied < needed; ) {
            int length = u16(in, p + 3);
            int take = Math.min(length, needed - copied);
            in.get(p + RECORD_HEADER, scratch, copied, take);
            copied += take;
            p += RECORD_HEADER + length;
        }
        return readHello(scratch, needed);
    }

    /** The ClientHello body (RFC 8446 4.1.2), after the four-byte handshake header, in {@code h[0, n)}. */
    private int readHello(byte[] h, int n) {
        int o = 4 + 2 + 32; // header, legacy_version, random
        if (o + 1 > n) {
            return MALFORMED;
        }
        int sessionId = h[o] & 0xFF;
        if (sessionId > 32) {
            return MALFORMED;
        }
        o += 1 + sessionId;
        if (o + 2 > n) {
            return MALFORMED;
        }
        int suites = u16(h, o);
        if (suites < 2 || (suites & 1) != 0) {
            return MALFORMED;
        }
        o += 2 + suites;
        if (o + 1 > n) {
            return MALFORMED;
        }
        int compression = h[o] & 0xFF;
        if (compression < 1) {
            return MALFORMED;
        }
        o += 1 + compression;
        if (o == n) {
            return NO_NAME; // a hello without extensions (SSL 3.0 / TLS 1.0 style)
        }
        if (o + 2 > n || o + 2 + u16(h, o) != n) {
            return MALFORMED; // the extensions must fill the rest exactly
        }
        o += 2;
        boolean seen = false;
        int answer = NO_NAME;
        while (o < n) {
            if (o + 4 > n) {
                return MALFORMED;
            }
            int type = u16(h, o);
            int length = u16(h, o + 2);
            o += 4;
            if (o + length > n) {
                return MALFORMED;
            }
            if (type == SERVER_NAME) {
                if (seen) {
                    return MALFORMED; // RFC 8446 4.2: one extension of a type
                }
                seen = true;
                answer = readServerName(h, o, length);
                if (answer < 0) {
                    return answer;
                }
            }
            o += length;
        }
        return answer;
    }

    /** The server_name extension's data (RFC 6066 3): a list of (type, name); the first host_name is the one. */
    private int readServerName(byte[] h, int o, int length) {
        if (length < 2 || u16(h, o) != length - 2) {
            return MALFORMED;
        }
        int end = o + length;
        o += 2;
        int answer = NO_NAME;
        while (o < end) {
            if (o + 3 > end) {
                return MALFORMED;
            }
            int type = h[o] & 0xFF;
            int size = u16(h, o + 1);
            o += 3;
            if (o + size > end) {
                return MALFORMED;
            }
            if (type == HOST_NAME && answer == NO_NAME) {
                String name = hostName(h, o, size);
                if (name == null) {
                    return MALFORMED;
                }
                serverName = name;
                answer = FOUND;
            }
            o += size;
        }
        return answer;
    }

    /**
     * A host name as sent: printable ASCII only (so that nothing a client sends can forge a log line or a label),
     * lower-cased, one trailing dot dropped (RFC 6066 forbids it; some clients send it). Null when it is not one.
     */
    private static String hostName(byte[] h, int o, int size) {
        if (size == 0 || size > MAX_NAME) {
            return null;
        }
        int n = h[o + size - 1] == '.' ? size - 1 : size;
        if (n == 0) {
            return null;
        }
        for (int i = o; i < o + n; i++) {
            int c = h[i];
            if (c <= 0x20 || c >= 0x7F) {
                return null;
            }
            if (c >= 'A' && c <= 'Z') {
                h[i] = (byte) (c + ('a' - 'A'));
            }
        }
        return new String(h, o, n, StandardCharsets.US_ASCII);
    }

    private static int u8(ByteBuffer b, int i) {
        return b.get(i) & 0xFF;
    }

    private static int u16(ByteBuffer b, int i) {
        return (b.get(i) & 0xFF) << 8 | (b.get(i + 1) & 0xFF);
    }

    private static int u16(byte[] b, int i) {
        return (b[i] & 0xFF) << 8 | (b[i + 1] & 0xFF);
    }
}
