package io.nioproxy.tls;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ServerNameRulesTest {
    @Test
    void exactBeatsWildcardAndLongerWildcardBeatsShorter() {
        ServerNameRules<String> r = ServerNameRules.parse(
                "chat.example.com=chat, *.example.com=web,*.eu.example.com=eu, API.Example.com=api");
        assertEquals("chat", r.match("chat.example.com"));
        assertEquals("api", r.match("api.example.com"), "patterns are lower-cased like names");
        assertEquals("web", r.match("www.example.com"));
        assertEquals("web", r.match("a.b.example.com"), "a wildcard matches at any depth");
        assertEquals("eu", r.match("x.eu.example.com"), "the longer suffix wins");
        assertNull(r.match("example.com"), "*.example.com is not example.com");
        assertNull(r.match("example.org"));
        assertNull(r.match("notexample.com"));
        assertEquals(4, r.patterns().size());
    }

    @Test
    void mapKeepsEveryRule() {
        ServerNameRules<Integer> r = ServerNameRules.parse("a.test=x,*.b.test=yy").map(String::length);
        assertEquals(1, r.match("a.test"));
        assertEquals(2, r.match("c.b.test"));
    }

    @Test
    void badRulesSayWhatIsWrong() {
        for (String[] bad : new String[][] {
                {"a.test", "not NAME=POOL"}, {"a.test=", "names no pool"}, {"a.test=x,,b.test=y", "empty entry"},
                {"*=x", "not a host name"}, {"a.*.test=x", "not a host name"}, {"a..test=x", "not a host name"},
                {"a.test=x,A.TEST=y", "routed twice"}, {"ex ample.com=x", "not a host name"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ServerNameRules.parse(bad[0]));
            assertTrue(e.getMessage().contains(bad[1]), bad[0] + ": " + e.getMessage());
        }
    }
}
