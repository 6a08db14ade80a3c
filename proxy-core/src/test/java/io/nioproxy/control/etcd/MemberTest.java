package io.nioproxy.control.etcd;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One etcd key and value as a backend: what is accepted, and the error for what is not (naming the key). */
class MemberTest {
    private static final String PREFIX = "/nioproxy/";

    private static Member parse(String key, String value) {
        return Member.parse(PREFIX, key, value.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void readsAddressWeightStateAndDrainTimeout() {
        Member m = parse("/nioproxy/web/10.0.0.7:8080", "{\"weight\":3,\"state\":\"draining\",\"drain_timeout\":\"30s\"}");
        assertEquals("web", m.pool());
        assertEquals("10.0.0.7:8080", m.identity());
        assertEquals(3, m.weight());
        assertTrue(m.draining());
        assertEquals(30_000_000_000L, m.drainTimeoutNanos());
        assertEquals(m, parse(m.key(PREFIX), m.json()), "what it writes reads back the same");

        Member leased = parse("/nioproxy/web/[::1]:9000", "");
        assertEquals("[0:0:0:0:0:0:0:1]:9000", leased.identity());
        assertEquals(1, leased.weight(), "an empty value (a backend registering itself) is weight 1, active");
        assertFalse(leased.draining());
        assertEquals(-1, leased.drainTimeoutNanos());
        assertEquals(2, parse("/nioproxy/web/10.0.0.7:1", "{\"weight\":2,\"zone\":\"a\"}").weight(),
                "fields a newer version writes are skipped");
    }

    @Test
    void badKeysAndValuesAreRefusedNamingTheKey() {
        String k = "/nioproxy/web/10.0.0.7:8080";
        assertMessage(k, "{\"weight\":0}", "weight 0: expected a whole number from 1 to 256");
        assertMessage(k, "{\"weight\":\"2\"}", "expected a whole number");
        assertMessage(k, "{\"state\":\"up\"}", "state up: expected \"active\" or \"draining\"");
        assertMessage(k, "{\"weight\":2", "the value is not JSON");
        assertMessage(k, "[1]", "the value must be a JSON object");
        assertMessage(k, "{} {}", "the value is not one JSON object");
        assertMessage(k, "{\"drain_timeout\":\"soon\"}", "drain_timeout");
        assertMessage("/nioproxy/web/backend.example:80", "", "not a host name");
        assertMessage("/nioproxy/web/10.0.0.7", "", "key /nioproxy/web/10.0.0.7:");
        assertMessage("/nioproxy/10.0.0.7:80", "", "expected /nioproxy/POOL/IP:PORT");
    }

    @Test
    void poolOfAKey() {
        assertEquals("web", Member.poolOf(PREFIX, "/nioproxy/web/1.2.3.4:5"));
        assertNull(Member.poolOf(PREFIX, "/nioproxy//1.2.3.4:5"));
        assertNull(Member.poolOf(PREFIX, "/other/web/1.2.3.4:5"));
        assertEquals("/nioproxy0", EtcdClient.rangeEnd("/nioproxy/"), "etcd's prefix range: last byte plus one");
    }

    private static void assertMessage(String key, String value, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(key, value));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith("key " + key), "names the key: " + e.getMessage());
    }
}
