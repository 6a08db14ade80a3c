package io.nioproxy.tls;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

import static io.nioproxy.tls.ClientHelloParser.FOUND;
import static io.nioproxy.tls.ClientHelloParser.MALFORMED;
import static io.nioproxy.tls.ClientHelloParser.NEED_MORE;
import static io.nioproxy.tls.ClientHelloParser.NOT_TLS;
import static io.nioproxy.tls.ClientHelloParser.NO_NAME;
import static io.nioproxy.tls.ClientHelloParser.TOO_LARGE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The ClientHello reader over real hellos of the JDK's TLS client: the name, at every split point, across records cut
 * as small as one byte; and over random and mutated input it answers, never throws, never reads past its input and
 * never moves the buffer.
 */
class ClientHelloParserTest {
    private final ClientHelloParser parser = new ClientHelloParser(16 << 10);

    private int parse(byte[] bytes, int n) {
        ByteBuffer b = Hellos.exact(bytes, n);
        int answer = parser.parse(b);
        assertEquals(0, b.position(), "the parser consumes nothing");
        assertEquals(n, b.limit());
        return answer;
    }

    @Test
    void readsTheNameOfARealHelloSplitAtEveryByte() throws Exception {
        byte[] hello = Hellos.jdk("Chat.Example.COM");
        for (int n = 0; n < hello.length; n++) {
            assertEquals(NEED_MORE, parse(hello, n), "a hello cut after " + n + " of " + hello.length + " bytes");
        }
        assertEquals(FOUND, parse(hello, hello.length));
        assertEquals("chat.example.com", parser.serverName(), "lower case, as rules are matched");
    }

    @Test
    void readsAHelloCutIntoRecordsOfAnySize() throws Exception {
        byte[] hello = Hellos.jdk("api.example.com");
        for (int size : new int[] {1, 2, 3, 4, 5, 7, 64, 300}) {
            byte[] records = Hellos.refragment(hello, size);
            for (int n = 0; n < records.length; n++) {
                assertEquals(NEED_MORE, parse(records, n), "records of " + size + ", cut after " + n);
            }
            assertEquals(FOUND, parse(records, records.length), "records of " + size);
            assertEquals("api.example.com", parser.serverName());
        }
    }

    @Test
    void bytesAfterTheHelloAreNotItsConcern() throws Exception {
        byte[] hello = Hellos.jdk("a.example.com");
        byte[] more = java.util.Arrays.copyOf(hello, hello.length + 100);
        assertEquals(FOUND, parse(more, more.length));
    }

    @Test
    void aHelloWithoutServerNameHasNone() throws Exception {
        byte[] hello = Hellos.jdk(null);
        assertEquals(NO_NAME, parse(hello, hello.length));
        assertNull(parser.serverName());
    }

    @Test
    void otherProtocolsAreToldAtTheFirstByte() {
        for (String s : new String[] {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                "SSH-2.0-OpenSSH_9.6\r\n", "\u0000"}) {
            byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
            assertEquals(NOT_TLS, parse(b, 1), s);
            assertEquals(NOT_TLS, parse(b, b.length), s);
        }
        // a handshake record byte, then not TLS's major version
        assertEquals(NOT_TLS, parse(new byte[] {0x16, 0x47}, 2));
        // an alert record, not a handshake
        assertEquals(NOT_TLS, parse(new byte[] {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28}, 7));
    }

    @Test
    void aHelloOverTheCapIsToldAsSoonAsItsLengthIs() throws Exception {
        String[] alpn = new String[40];
        for (int i = 0; i < alpn.length; i++) {
            alpn[i] = "protocol-with-a-long-name-" + i;
        }
        byte[] hello = Hellos.jdk("big.example.com", alpn);
        assertTrue(hello.length > 1500, "a large hello: " + hello.length);
        ClientHelloParser small = new ClientHelloParser(1024);
        // one record: its header alone says it will not fit
        assertEquals(TOO_LARGE, small.parse(Hellos.exact(hello, 5)));
        // small records: the handshake header says it
        byte[] records = Hellos.refragment(hello, 200);
        assertEquals(NEED_MORE, small.parse(Hellos.exact(records, 8)));
        assertEquals(TOO_LARGE, small.parse(Hellos.exact(records, 9)));
        ClientHelloParser enough = new ClientHelloParser(hello.length);
        assertEquals(FOUND, enough.parse(Hellos.exact(hello, hello.length)), "exactly at the cap");
        assertEquals(TOO_LARGE, new ClientHelloParser(hello.length - 1).parse(Hellos.exact(hello, hello.length)));
    }

    @Test
    void badFieldsAreMalformed() throws Exception {
        byte[] hello = Hellos.jdk("x.example.com");
        // a handshake that is not a ClientHello (a ServerHello's type)
        byte[] b = hello.clone();
        b[5] = 2;
        assertEquals(MALFORMED, parse(b, b.length));
        // an empty record
        assertEquals(MALFORMED, parse(new byte[] {0x16, 0x03, 0x01, 0x00, 0x00}, 5));
        // a record over 2^14
        assertEquals(MALFORMED, parse(new byte[] {0x16, 0x03, 0x01, 0x40, 0x01}, 5));
        // a control character in the name
        b = hello.clone();
        int at = indexOf(b, "x.example.com".getBytes(StandardCharsets.US_ASCII));
        b[at + 1] = '\n';
        assertEquals(MALFORMED, parse(b, b.length));
        // a session id longer than 32
        b = hello.clone();
        b[5 + 4 + 2 + 32] = 33;
        assertEquals(MALFORMED, parse(b, b.length));
        // a second record that is not a handshake
        byte[] records = Hellos.refragment(hello, 50);
        records[55] = 0x17;
        assertEquals(MALFORMED, parse(records, records.length));
    }

    @Test
    void randomAndMutatedInputIsAnsweredAndNeverReadPast() throws Exception {
        byte[][] seeds = {Hellos.jdk("a.example.com"), Hellos.jdk(null), Hellos.refragment(Hellos.jdk("b.example.org"), 3)};
        SplittableRandom r = new SplittableRandom(20261129);
        for (int i = 0; i < 60_000; i++) {
            byte[] b;
            if (i % 3 == 0) {
                b = new byte[r.nextInt(1, 600)];
                r.nextBytes(b);
                b[0] = 0x16; // mostly past the first checks
                if (b.length > 1) {
                    b[1] = 3;
                }
            } else {
                b = seeds[r.nextInt(seeds.length)].clone();
                int mutations = 1 + r.nextInt(4);
                for (int m = 0; m < mutations; m++) {
                    b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                }
            }
            int n = r.nextInt(b.length + 1);
            int answer;
            try {
                answer = parse(b, n);
            } catch (RuntimeException e) {
                fail("input " + java.util.HexFormat.of().formatHex(b, 0, n) + " threw", e);
                return;
            }
            assertTrue(answer >= TOO_LARGE && answer <= NO_NAME, "answer " + answer);
            if (answer == FOUND) {
                String name = parser.serverName();
                assertTrue(!name.isEmpty() && name.chars().allMatch(c -> c > 0x20 && c < 0x7F && !(c >= 'A' && c <= 'Z')),
                        "a name of printable lower-case ASCII: " + name);
            }
        }
    }

    private static int indexOf(byte[] b, byte[] what) {
        outer:
        for (int i = 0; i + what.length <= b.length; i++) {
            for (int j = 0; j < what.length; j++) {
                if (b[i + j] != what[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
