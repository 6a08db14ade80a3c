package io.nioproxy.config;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.nioproxy.config.SettingsTest.build;
import static io.nioproxy.config.SettingsTest.error;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pools and routing by TLS server name: what is accepted, and a clear start-up error for each mistake. */
class PoolSettingsTest {
    private static final String[] THREE_POOLS = {"proxy.pools", "chat,api,web",
            "proxy.pool.chat.backends", "10.0.0.1:443", "proxy.pool.api.backends", "10.0.0.2:443,10.0.0.3:443",
            "proxy.pool.web.backends", "10.0.0.4:443", "proxy.pool.api.balance", "least-conn",
            "proxy.pool.api.health.interval", "2s"};

    private static String[] with(String... more) {
        List<String> kv = new java.util.ArrayList<>(List.of(THREE_POOLS));
        kv.addAll(List.of(more));
        return kv.toArray(String[]::new);
    }

    @Test
    void poolsFollowTheListenersAndTakeTheirOwnBackendKeys() {
        ProxyConfig c = build(with("proxy.sni.routes", "chat.example.com=chat,*.api.example.com=api",
                "proxy.sni.default", "web", "proxy.balance", "round-robin", "proxy.idle.timeout", "1h"));
        assertEquals(List.of("default", "chat", "api", "web"), c.listeners().stream().map(ListenerConfig::name).toList());
        ListenerConfig front = c.listeners().get(0);
        assertTrue(!front.pool() && front.backends().isEmpty(), "the default pool takes what the rules do not");
        SniConfig sni = front.sni();
        assertEquals("web", sni.defaultPool());
        assertEquals("api", sni.rules().match("eu.api.example.com"));
        assertEquals(TimeUnit.SECONDS.toNanos(5), sni.timeoutNanos());
        assertEquals(16384, sni.maxBytes(), "auto: one buffer");
        ListenerConfig api = c.listeners().get(2);
        assertTrue(api.pool());
        assertNull(api.listen());
        assertNull(api.sni());
        assertEquals(2, api.backends().size());
        assertEquals("least-conn", api.balance().configName(), "its own key");
        assertEquals("round-robin", c.listeners().get(1).balance().configName(), "the default key otherwise");
        assertEquals(TimeUnit.SECONDS.toNanos(2), api.health().intervalNanos());
        assertTrue(Settings.describe(c).contains("  pool api: "), Settings.describe(c));
    }

    @Test
    void withoutADefaultPoolTheListenersOwnBackendsTakeTheRest() {
        ProxyConfig c = build(with("proxy.sni.routes", "chat.example.com=chat", "proxy.backends", "10.0.0.9:443"));
        assertNull(c.listeners().get(0).sni().defaultPool());
        assertEquals(1, c.listeners().get(0).backends().size());
        assertEquals(1, c.listeners().get(1).backends().size(), "a pool does not inherit proxy.backends");
    }

    @Test
    void everyMistakeIsAClearStartUpError() {
        assertTrue(error(with("proxy.sni.routes", "chat.example.com=chats", "proxy.sni.default", "web"))
                .contains("pool 'chats' is not named in proxy.pools=chat,api,web"));
        assertTrue(error(with("proxy.sni.routes", "chat.example.com=chat", "proxy.sni.default", "nope"))
                .contains("pool 'nope' is not named in proxy.pools"));
        assertTrue(error("proxy.backends", "10.0.0.1:1", "proxy.sni.routes", "a.test=x")
                .contains("pool 'x' is not named in proxy.pools (not set)"));
        assertTrue(error(with("proxy.sni.routes", "a..test=chat", "proxy.sni.default", "web"))
                .contains("not a host name"));
        assertTrue(error(with("proxy.sni.routes", "a.test=chat"))
                .contains("needs backends of its own or an sni.default pool"));
        assertTrue(error(with("proxy.sni.routes", "a.test=chat", "proxy.sni.default", "web", "proxy.backends",
                "10.0.0.9:1")).contains("never used"));
        assertTrue(error(with("proxy.backends", "10.0.0.9:1", "proxy.sni.default", "web"))
                .contains("given without proxy.sni.routes"));
        assertTrue(error(with("proxy.sni.routes", "a.test=chat", "proxy.sni.default", "web", "proxy.sni.max", "32k"))
                .contains("expected from 64 bytes to proxy.buffer.size (16384)"));
        assertTrue(error(with("proxy.sni.routes", "a.test=chat", "proxy.sni.default", "web", "proxy.sni.timeout",
                "0")).contains("needs a deadline"));
        assertTrue(error(with("proxy.backends", "10.0.0.9:1", "proxy.pool.chat.listen", "0.0.0.0:1"))
                .contains("unknown key; a pool takes backends"));
        assertTrue(error(with("proxy.backends", "10.0.0.9:1", "proxy.pool.nope.backends", "10.0.0.1:1"))
                .contains("pool 'nope' is not named in proxy.pools"));
        assertTrue(error("proxy.pools", "a", "proxy.sni.routes", "x.test=a",
                "proxy.sni.default", "a").contains("proxy.pool.a.backends is not set: a pool needs backends"));
        assertTrue(error("proxy.listeners", "a", "proxy.listener.a.backends", "10.0.0.1:1", "proxy.pools", "a",
                "proxy.pool.a.backends", "10.0.0.1:1").contains("a listener's name too"));
    }
}
