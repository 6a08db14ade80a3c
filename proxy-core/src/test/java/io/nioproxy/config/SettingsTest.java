package io.nioproxy.config;

import io.nioproxy.balance.BalancePolicy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SettingsTest {
    static Properties props(String... kv) {
        return io.nioproxy.testing.Props.of(kv);
    }

    static ProxyConfig build(String... kv) {
        return Settings.from(props(kv)).build();
    }

    static String error(String... kv) {
        return assertThrows(ConfigException.class, () -> build(kv)).getMessage();
    }

    @Test
    void defaults() {
        ProxyConfig c = build("proxy.backends", "127.0.0.1:9001,[::1]:9002@3");
        assertEquals(Runtime.getRuntime().availableProcessors(), c.workers());
        assertEquals(16384, c.bufferBytes());
        assertEquals(4 * 16384, c.bulkBufferBytes(), "bulk buffers: 4 x buffer.size by default");
        assertEquals(AcceptMode.REUSEPORT, c.acceptMode());
        ListenerConfig l = c.listeners().get(0);
        assertEquals("default", l.name());
        assertEquals(new HostPort("0.0.0.0", 8080), l.listen());
        assertEquals(BalancePolicy.SOURCE_IP, l.balance());
        assertEquals(TimeUnit.SECONDS.toNanos(5), l.connectTimeoutNanos());
        assertEquals(0, l.idleTimeoutNanos(), "no idle timeout by default: WebSockets live long");
        assertEquals(2, l.backends().size());
        assertEquals(new HostPort("::1", 9002), l.backends().get(1).address());
        assertEquals(3, l.backends().get(1).weight());
        assertTrue(l.tcpNoDelay());
    }

    @Test
    void everyKeyIsParsed() {
        ProxyConfig c = build("proxy.backends", "a.example:1", "proxy.listen", "127.0.0.1:0", "proxy.workers", "3",
                "proxy.balance", "least-conn", "proxy.connect.timeout", "250ms", "proxy.idle.timeout", "1h",
                "proxy.connect.attempts", "2", "proxy.backlog", "100", "proxy.tcp.nodelay", "false",
                "proxy.socket.rcvbuf", "64k", "proxy.socket.sndbuf", "1m", "proxy.buffer.size", "32k",
                "proxy.buffer.pool.max", "8m", "proxy.accept", "acceptor");
        assertEquals(3, c.workers());
        assertEquals(32768, c.bufferBytes());
        assertEquals(8 << 20, c.poolBytesPerLoop());
        assertEquals(AcceptMode.ACCEPTOR, c.acceptMode());
        ListenerConfig l = c.listeners().get(0);
        assertEquals(BalancePolicy.LEAST_CONN, l.balance());
        assertEquals(TimeUnit.MILLISECONDS.toNanos(250), l.connectTimeoutNanos());
        assertEquals(TimeUnit.HOURS.toNanos(1), l.idleTimeoutNanos());
        assertEquals(2, l.connectAttempts());
        assertEquals(100, l.backlog());
        assertFalse(l.tcpNoDelay());
        assertEquals(65536, l.socketRcvBufBytes());
        assertEquals(1 << 20, l.socketSndBufBytes());
    }

    @Test
    void severalListenersInheritTopLevelKeysAsDefaults() {
        ProxyConfig c = build("proxy.listeners", "http,ws", "proxy.balance", "round-robin",
                "proxy.connect.timeout", "2s",
                "proxy.listener.http.listen", "127.0.0.1:0", "proxy.listener.http.backends", "127.0.0.1:1",
                "proxy.listener.ws.listen", "127.0.0.1:1", "proxy.listener.ws.backends", "127.0.0.1:2,127.0.0.1:3",
                "proxy.listener.ws.balance", "source-ip-port");
        assertEquals(2, c.listeners().size());
        assertEquals(BalancePolicy.ROUND_ROBIN, c.listeners().get(0).balance());
        assertEquals(BalancePolicy.SOURCE_IP_PORT, c.listeners().get(1).balance());
        assertEquals(TimeUnit.SECONDS.toNanos(2), c.listeners().get(1).connectTimeoutNanos());
        assertEquals(2, c.listeners().get(1).backends().size());
    }

    @Test
    void fileGivesKeysAndSystemPropertiesWin(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("nioproxy.properties");
        Files.writeString(f, "# comment\nproxy.backends=127.0.0.1:7001\nproxy.balance=round-robin\n");
        ProxyConfig c = build("proxy.config", f.toString(), "proxy.balance", "least-conn");
        assertEquals(BalancePolicy.LEAST_CONN, c.listeners().get(0).balance());
        assertEquals(7001, c.listeners().get(0).backends().get(0).address().port());
    }

    @Test
    void badSettingsNameTheKeyAndTheValue() {
        assertTrue(error().startsWith("proxy.backends is not set"), error());
        assertTrue(error().contains("--demo"));
        assertTrue(error("proxy.backends", " ").startsWith("proxy.backends is empty"));
        assertTrue(error("proxy.backends", "h:1", "proxy.bakends", "1").startsWith("proxy.bakends=1: unknown key; known keys: "));
        assertTrue(error("proxy.backends", "localhost").startsWith("proxy.backends=localhost: expected HOST:PORT"));
        assertTrue(error("proxy.backends", "h:70000").startsWith("proxy.backends=h:70000: the port"));
        assertTrue(error("proxy.backends", "h:1,,h:2").startsWith("proxy.backends=h:1,,h:2: an empty entry"));
        assertTrue(error("proxy.backends", "h:1,h:1").contains("listed twice"));
        assertTrue(error("proxy.backends", "h:1@0").contains("weight"));
        assertTrue(error("proxy.backends", "::1:80").contains("brackets"));
        assertTrue(error("proxy.backends", "h:1", "proxy.listen", "nope").startsWith("proxy.listen=nope:"));
        assertTrue(error("proxy.backends", "h:1", "proxy.balance", "random").startsWith("proxy.balance=random: expected"));
        assertTrue(error("proxy.backends", "h:1", "proxy.connect.timeout", "5 parsecs").startsWith("proxy.connect.timeout=5 parsecs:"));
        assertTrue(error("proxy.backends", "h:1", "proxy.idle.timeout", "10x").contains("unknown unit"));
        assertTrue(error("proxy.backends", "h:1", "proxy.workers", "0").startsWith("proxy.workers=0: expected a whole number"));
        assertTrue(error("proxy.backends", "h:1", "proxy.tcp.nodelay", "maybe").startsWith("proxy.tcp.nodelay=maybe"));
        assertTrue(error("proxy.backends", "h:1", "proxy.buffer.size", "10").startsWith("proxy.buffer.size=10"));
        assertTrue(error("proxy.backends", "h:1", "proxy.accept", "magic").startsWith("proxy.accept=magic"));
        assertTrue(error("proxy.backends", "h:1", "proxy.buffer.bulk.size", "8k")
                .startsWith("proxy.buffer.bulk.size=8k: expected 0 (off) or a size above proxy.buffer.size (16384)"));
        assertEquals(0, build("proxy.backends", "h:1", "proxy.buffer.pool.max", "128k").bulkBufferBytes(),
                "a pool too small to spare bulk buffers: auto turns them off");
        assertEquals(0, build("proxy.backends", "h:1", "proxy.buffer.bulk.size", "0").bulkBufferBytes());
        assertEquals(1 << 20, build("proxy.backends", "h:1", "proxy.buffer.bulk.size", "1m").bulkBufferBytes());
        assertTrue(error("proxy.backends", "h:1", "proxy.listener.x.listen", "h:2")
                .startsWith("proxy.listener.x.listen=h:2: listener 'x' is not named"));
        assertTrue(error("proxy.listeners", "a", "proxy.listener.a.backends", "h:1", "proxy.listener.a.colour", "red")
                .startsWith("proxy.listener.a.colour=red: unknown key"));
        assertTrue(error("proxy.listeners", "a,b", "proxy.backends", "h:1", "proxy.listen", "127.0.0.1:5")
                .contains("two listeners cannot share one address"));
        assertTrue(error("proxy.listeners", "a", "proxy.listener.a.backends", "")
                .startsWith("proxy.listener.a.backends is empty"));
        assertTrue(error("proxy.config", "/nonexistent/file").startsWith("proxy.config=/nonexistent/file: cannot read"));
    }

    @Test
    void backendsChangeKeys(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("b.txt");
        Files.writeString(f, "127.0.0.1:1\n");
        ProxyConfig c = build("proxy.backends.file", f.toString(), "proxy.health.interval", "2s",
                "proxy.health.send", "PING\\r\\n", "proxy.health.expect", "+PONG", "proxy.health.on.down", "close",
                "proxy.affinity.ttl", "0", "proxy.dns.refresh", "30s", "proxy.admin", "127.0.0.1:9000",
                "proxy.shutdown.timeout", "1m", "proxy.shutdown.pace", "20s");
        ListenerConfig l = c.listeners().get(0);
        assertEquals(f.toString(), l.backendsFile());
        assertEquals("PING\r\n", l.health().send());
        assertEquals("+PONG", l.health().expect());
        assertTrue(l.health().closeOnDown());
        assertEquals(0, l.affinityTtlNanos());
        assertEquals(TimeUnit.SECONDS.toNanos(30), l.dnsRefreshNanos());
        assertEquals(new HostPort("127.0.0.1", 9000), c.admin());
        assertEquals(TimeUnit.MINUTES.toNanos(1), c.shutdownTimeoutNanos());
        assertTrue(error("proxy.backends", "h:1", "proxy.backends.file", f.toString()).contains("not both"));
        assertTrue(error("proxy.backends", "h:1", "proxy.health.on.down", "explode")
                .startsWith("proxy.health.on.down=explode: expected keep or close"));
        assertTrue(error("proxy.backends", "h:1", "proxy.health.fall", "0").startsWith("proxy.health.fall=0"));
        assertTrue(error("proxy.backends", "h:1", "proxy.admin", "nowhere").startsWith("proxy.admin=nowhere"));
    }

    @Test
    void keepaliveIsOffUnlessAskedForOrATimingIsGiven() {
        assertFalse(build("proxy.backends", "h:1").listeners().get(0).protection().keepAlive());
        assertTrue(build("proxy.backends", "h:1", "proxy.tcp.keepalive", "true").listeners().get(0).protection().keepAlive());
        assertTrue(build("proxy.backends", "h:1", "proxy.tcp.keepalive.idle", "60").listeners().get(0).protection().keepAlive());
        assertFalse(build("proxy.backends", "h:1", "proxy.tcp.keepalive", "false", "proxy.tcp.keepalive.idle", "60")
                .listeners().get(0).protection().keepAlive(), "an explicit false wins");
    }

    @Test
    void durations() {
        assertEquals(0, Durations.parseNanos("k", "0"));
        assertEquals(250_000_000L, Durations.parseNanos("k", "250ms"));
        assertEquals(TimeUnit.DAYS.toNanos(1), Durations.parseNanos("k", "1d"));
        assertEquals("250ms", Durations.format(250_000_000L));
        assertEquals("1h", Durations.format(TimeUnit.HOURS.toNanos(1)));
        assertThrows(ConfigException.class, () -> Durations.parseNanos("k", "ms"));
        assertThrows(ConfigException.class, () -> Durations.parseNanos("k", "-1s"));
    }

    @Test
    void etcdIsTheOneSourceOfBackendsWhenSet() {
        ProxyConfig c = build("proxy.etcd.endpoints", "http://127.0.0.1:2379/, 127.0.0.2:2379",
                "proxy.etcd.prefix", "/fleet");
        assertEquals(List.of(new HostPort("127.0.0.1", 2379), new HostPort("127.0.0.2", 2379)), c.etcd().endpoints());
        assertEquals("/fleet/", c.etcd().prefix(), "a prefix ends with /");
        assertEquals("/fleet/default/", c.etcd().poolPrefix("default"));
        assertEquals(List.of(), c.listeners().get(0).backends(), "no backends until etcd gives them");
        assertEquals(null, build("proxy.backends", "127.0.0.1:1").etcd(), "off unless set");

        String both = error("proxy.etcd.endpoints", "127.0.0.1:2379", "proxy.backends", "127.0.0.1:1");
        assertTrue(both.contains("proxy.backends") && both.contains("backends come from etcd")
                && both.contains("/nioproxy/default/"), both);
        String file = error("proxy.etcd.endpoints", "127.0.0.1:2379", "proxy.backends.file", "/tmp/b");
        assertTrue(file.contains("proxy.backends.file"), file);
        String tls = error("proxy.etcd.endpoints", "https://127.0.0.1:2379");
        assertTrue(tls.contains("TLS to etcd is not supported"), tls);
        String prefix = error("proxy.etcd.endpoints", "127.0.0.1:2379", "proxy.etcd.prefix", "a b");
        assertTrue(prefix.contains("proxy.etcd.prefix"), prefix);
        String timeout = error("proxy.etcd.endpoints", "127.0.0.1:2379", "proxy.etcd.timeout", "0");
        assertTrue(timeout.contains("needs a deadline"), timeout);
    }
}
