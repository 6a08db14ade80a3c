package io.nioproxy.config;

import io.nioproxy.balance.BalancePolicy;
import io.nioproxy.sys.Linux;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;

/**
 * Reads every {@code proxy.*} setting, validates it once, and builds the immutable {@link ProxyConfig}.
 *
 * <p>Each setting is a triplet of name, default and resolved value (the Agrona {@code Configuration} idiom):
 * the names and defaults are the {@link Key} constants below, the resolved values the returned records. Sources, in
 * rising priority: the file named by {@code proxy.config}, then system properties. A key under {@code proxy.} that
 * is not listed here is an error, so that a typo never silently falls back to a default.
 *
 * <p>Threading: start-up only (called by {@code Main} before any loop runs). Not thread-safe.
 */
public final class Settings {
    public static final String PREFIX = "proxy.";
    public static final String LISTENER_PREFIX = "proxy.listener.";
    public static final String POOL_PREFIX = "proxy.pool.";

    /** The property {@code key} of listener {@code listener} is read from, for error messages. */
    public static String propertyOf(String listener, Key<?> key) {
        return listener.equals("default") ? key.property() : LISTENER_PREFIX + listener + "." + key.name();
    }

    /** The property {@code key} of {@code l} (a listener or a pool) is read from, for error messages. */
    public static String propertyOf(ListenerConfig l, Key<?> key) {
        return l.pool() ? POOL_PREFIX + l.name() + "." + key.name() : propertyOf(l.name(), key);
    }

    /** Scope of a key: process-wide, or per listener (with its default given directly under {@code proxy.}). */
    public enum Scope { GLOBAL, LISTENER }

    /**
     * A known setting: name (after {@code proxy.}), scope, default text (null = required or computed), meaning, and
     * the parser that checks a value and turns it into what the configuration holds. Everything else — reading,
     * validation, the start-up line, {@code --help}, the check of {@code docs/configuration.md} — goes over
     * {@link #KEYS}.
     */
    public record Key<T>(String name, Scope scope, String defaultValue, String meaning, Parsers.Parser<T> parser) {
        public String property() {
            return PREFIX + name;
        }
    }

    private static <T> Key<T> global(String name, String defaultValue, String meaning, Parsers.Parser<T> parser) {
        return new Key<>(name, Scope.GLOBAL, defaultValue, meaning, parser);
    }

    private static <T> Key<T> listener(String name, String defaultValue, String meaning, Parsers.Parser<T> parser) {
        return new Key<>(name, Scope.LISTENER, defaultValue, meaning, parser);
    }

    private static final long MIB16 = 16L * 1024 * 1024;
    /** The highest {@link #CLIENT_RATE}: the limiter's per-second counts have 20 bits. */
    public static final int CLIENT_RATE_MAX = 1_000_000;

    public static final Key<String> CONFIG = global("config", null,
            "properties file with more proxy.* keys (system properties win)",
            Parsers.text());
    public static final Key<Integer> WORKERS = global("workers", null,
            "number of event loops (threads); default: number of cores",
            Parsers.integer(1, 1024));
    public static final Key<String> LISTENERS = global("listeners", null,
            "NAME[,NAME...]: several listeners, each configured by proxy.listener.NAME.KEY",
            Parsers.text());
    public static final Key<String> POOLS = global("pools", null,
            "NAME[,NAME...]: backend pools that listeners route to by TLS server name (sni.routes), each configured"
                    + " by proxy.pool.NAME.KEY with the backend keys a listener takes",
            Parsers.text());
    public static final Key<Long> BUFFER_SIZE = global("buffer.size", "16k",
            "bytes of one pooled relay buffer (per direction in flight)",
            Parsers.bytes(1024, MIB16, "expected a size from 1k to 16m"));
    public static final Key<Long> POOL_BYTES = global("buffer.pool.max", "64m",
            "most direct memory one loop's buffer pool may hold; past it, reads wait for a free buffer",
            Parsers.bytes(4096, Long.MAX_VALUE, "expected a size of at least four buffers"));
    public static final Key<Long> BULK_BUFFER_SIZE = global("buffer.bulk.size", "auto",
            "relay buffer for a direction that keeps filling regular ones (bulk transfer): auto (4 x buffer.size),"
                    + " a size, or 0 (off)",
            Settings::bulkSize);
    public static final Key<AcceptMode> ACCEPT = global("accept", "reuseport",
            "reuseport (a listening socket per loop, SO_REUSEPORT) or acceptor (loop 0 accepts and hands off)",
            Parsers.choice("reuseport or acceptor", Map.of("reuseport", AcceptMode.REUSEPORT, "acceptor", AcceptMode.ACCEPTOR)));

    public static final Key<IoMode> IO = global("io", "auto",
            "auto (epoll where available: Linux, JDK 22+), epoll (direct Linux calls), or nio (java.nio selectors)",
            Settings::ioMode);

    public static final Key<HostPort> LISTEN = listener("listen", "0.0.0.0:8080", "HOST:PORT to accept clients on",
            (k, t) -> HostPort.parse(k, t, true));
    public static final Key<String> BACKENDS = listener("backends", null,
            "HOST:PORT[@WEIGHT][,HOST:PORT[@WEIGHT]...]",
            Parsers.text());
    public static final Key<BalancePolicy> BALANCE = listener("balance", "source-ip",
            "source-ip | source-ip-port | round-robin | least-conn",
            Settings::balance);
    public static final Key<Long> CONNECT_TIMEOUT = listener("connect.timeout", "5s",
            "backend connect timeout per attempt (0 = none)",
            Parsers.duration());
    public static final Key<Long> IDLE_TIMEOUT = listener("idle.timeout", "0",
            "close a session idle in both directions this long (0 = never: WebSocket-safe)",
            Parsers.duration());
    public static final Key<Integer> CONNECT_ATTEMPTS = listener("connect.attempts", "3",
            "backends tried, in the hash's preference order, before the client is closed",
            Parsers.integer(1, 64));
    public static final Key<Integer> BACKLOG = listener("backlog", "4096", "listen backlog",
            Parsers.integer(1, 1 << 20));
    public static final Key<Boolean> TCP_NODELAY = listener("tcp.nodelay", "true", "TCP_NODELAY on both legs",
            Parsers.bool());
    public static final Key<Long> SOCKET_RCVBUF = listener("socket.rcvbuf", "0",
            "SO_RCVBUF on both legs (0 = kernel default with auto-tuning)",
            Parsers.bytes(0, Integer.MAX_VALUE, "expected a size below 2g"));
    public static final Key<Long> SOCKET_SNDBUF = listener("socket.sndbuf", "0",
            "SO_SNDBUF on both legs (0 = kernel default with auto-tuning)",
            Parsers.bytes(0, Integer.MAX_VALUE, "expected a size below 2g"));

    public static final Key<HostPort> ADMIN = global("admin", null,
            "HOST:PORT of the admin HTTP endpoint (GET /backends, add, drain, remove, weight); off unless set",
            (k, t) -> t.isBlank() ? null : HostPort.parse(k, t, true));
    public static final Key<List<HostPort>> ETCD_ENDPOINTS = global("etcd.endpoints", null,
            "HOST:PORT[,HOST:PORT...] of etcd members (plain HTTP, its v3 JSON gateway): every listener and pool then"
                    + " takes its backends from the keys under etcd.prefix; off unless set",
            Settings::etcdEndpoints);
    public static final Key<String> ETCD_PREFIX = global("etcd.prefix", "/nioproxy/",
            "etcd key prefix: a pool's backends are the keys PREFIX + NAME + '/' + IP:PORT",
            Settings::etcdPrefix);
    public static final Key<Long> ETCD_TIMEOUT = global("etcd.timeout", "2s",
            "deadline of one etcd request; at start, how long to wait for the first membership",
            Parsers.duration());
    public static final Key<String> TAKEOVER_SOCKET = global("takeover.socket", null,
            "path of a Unix-domain socket through which a new process (started with --takeover) receives the"
                    + " listening sockets, so that a restart refuses no connection (epoll mode); off unless set",
            (k, t) -> t.isBlank() ? null : t.trim());
    public static final Key<Long> SHUTDOWN_TIMEOUT = global("shutdown.timeout", "10s",
            "on SIGTERM: stop accepting, let sessions finish this long, then close the rest paced",
            Parsers.duration());
    public static final Key<Long> SHUTDOWN_PACE = global("shutdown.pace", "10s",
            "the window over which sessions still open at shutdown are closed, spread out and jittered",
            Parsers.duration());

    public static final Key<String> ACCESS_LOG = global("access.log", "off",
            "one line per session at its end: off, stdout, stderr or a file path (appended)",
            (k, t) -> t.isBlank() || t.trim().equalsIgnoreCase("off") ? null : t.trim());
    public static final Key<Long> ACCESS_LOG_INTERIM = global("access.log.interim", "0",
            "sessions longer than this get an interim access-log line at this interval (0 = none)",
            Parsers.duration());

    public static final Key<String> BACKENDS_FILE = listener("backends.file", null,
            "file with one HOST:PORT[@WEIGHT] per line (# comments), re-read when it changes",
            (k, t) -> t.isBlank() ? null : t.trim());
    public static final Key<Long> DNS_REFRESH = listener("dns.refresh", "0",
            "re-resolve host-name backends this often; every address is a backend (0 = once at start)",
            Parsers.duration());
    public static final Key<Long> AFFINITY_TTL = listener("affinity.ttl", "5m",
            "source-ip: remember each client's backend this long after its last connection (0 = off)",
            Parsers.duration());
    public static final Key<Integer> AFFINITY_MAX = listener("affinity.max", "100000",
            "source-ip: clients remembered at most",
            Parsers.integer(1, 1 << 26));
    public static final Key<Long> DRAIN_TIMEOUT = listener("drain.timeout", "0",
            "default deadline of a drain; its sessions are closed past it (0 = they run to their end)",
            Parsers.duration());
    public static final Key<Long> HEALTH_INTERVAL = listener("health.interval", "0",
            "active check of every backend this often (0 = passive checks only)",
            Parsers.duration());
    public static final Key<Long> HEALTH_TIMEOUT = listener("health.timeout", "1s",
            "deadline of one active check (connect, and the reply when health.expect is set)",
            Parsers.duration());
    public static final Key<Integer> HEALTH_RISE = listener("health.rise", "2",
            "consecutive good checks that bring a down backend up",
            Parsers.integer(1, 1000));
    public static final Key<Integer> HEALTH_FALL = listener("health.fall", "3",
            "consecutive failures (checks, or client connects when passive) that take a backend down",
            Parsers.integer(1, 1000));
    public static final Key<String> HEALTH_SEND = listener("health.send", null,
            "bytes an active check sends after connecting (\\r \\n \\t escapes)",
            (k, t) -> unescape(t));
    public static final Key<String> HEALTH_EXPECT = listener("health.expect", null,
            "an active check passes only if the reply starts with these bytes",
            (k, t) -> unescape(t));
    public static final Key<Long> HEALTH_HOLDDOWN = listener("health.holddown", "10s",
            "a backend that went down stays out at least this long (passive only: then it is retried)",
            Parsers.duration());
    public static final Key<Boolean> HEALTH_PASSIVE = listener("health.passive", "true",
            "clients' failed connects count toward health.fall",
            Parsers.bool());
    public static final Key<Boolean> HEALTH_ON_DOWN = listener("health.on.down", "keep",
            "sessions of a backend that goes down: keep, or close (after health.close.grace)",
            Parsers.choice("keep or close", Map.of("keep", false, "close", true)));
    public static final Key<Long> HEALTH_CLOSE_GRACE = listener("health.close.grace", "0",
            "with health.on.down=close: delay before the sessions are closed",
            Parsers.duration());

    public static final Key<Integer> LOOP_SPIN = global("loop.spin", "0",
            "non-blocking polls a loop makes after a busy one before it sleeps: fewer sleeps and wake-ups (lower"
                    + " latency, less work for the threads that wake it) for more CPU of its own (0 = sleep at once)",
            Parsers.integer(0, 1_000_000));
    public static final Key<Integer> BACKGROUND_NICE = global("background.nice", "10",
            "nice value of the control and health-check threads and the JIT compiler threads, so that they never"
                    + " hold a loop up on its core (0-19; 0 = leave them; JDK 22+ on Linux)",
            Parsers.integer(0, 19));
    public static final Key<Integer> WARMUP = global("warmup", "20000",
            "round trips run through a private loopback balancer at start so the JIT has compiled the data path"
                    + " before the first client (0 = off)",
            Parsers.integer(0, 10_000_000));
    public static final Key<Integer> MAXCONN_GLOBAL = global("maxconn.global", "0",
            "sessions of the whole process at once (0 = no limit); past it, accepting pauses",
            Parsers.integer(0, Integer.MAX_VALUE));
    public static final Key<Integer> PROXY_SEND = listener("proxyprotocol.send", "off",
            "send a PROXY protocol header to backends: off, v1 or v2",
            Parsers.choice("off, v1 or v2", Map.of("off", 0, "0", 0, "", 0, "v1", 1, "1", 1, "v2", 2, "2", 2)));
    public static final Key<List<Cidr>> PROXY_TRUSTED = listener("proxyprotocol.trusted", "",
            "CIDR[,CIDR...]: connections from these sources must start with a PROXY v1/v2 header",
            Settings::cidrs);
    public static final Key<Long> PROXY_TIMEOUT = listener("proxyprotocol.timeout", "3s",
            "deadline for that header, from accept",
            Parsers.duration());
    public static final Key<Integer> MAXCONN = listener("maxconn", "0",
            "sessions of this listener at once (0 = no limit); past it, accepting pauses",
            Parsers.integer(0, Integer.MAX_VALUE));
    public static final Key<Integer> BACKEND_MAXCONN = listener("backend.maxconn", "0",
            "sessions per backend at once (0 = no limit); a full backend spills to the next choice",
            Parsers.integer(0, Integer.MAX_VALUE));
    public static final Key<Integer> CLIENT_MAXCONN = listener("client.maxconn", "0",
            "sessions per client address at once (0 = no limit)",
            Parsers.integer(0, Integer.MAX_VALUE));
    public static final Key<Integer> CLIENT_RATE = listener("client.rate", "0",
            "new connections per client address per second, a sliding estimate over the last second (0 = no limit)",
            Parsers.integer(0, CLIENT_RATE_MAX));
    public static final Key<Long> HALFCLOSED_TIMEOUT = listener("halfclosed.timeout", "1m",
            "once one side sent FIN, close after this long with no byte either way (0 = never)",
            Parsers.duration());
    public static final Key<Long> MAX_AGE = listener("session.max.age", "0",
            "close any session this old (0 = never)",
            Parsers.duration());
    public static final Key<Boolean> KEEPALIVE = listener("tcp.keepalive", "false",
            "SO_KEEPALIVE on both legs, so half-open peers are found (on by itself when a tcp.keepalive.* timing is set)",
            Parsers.bool());
    public static final Key<Integer> KEEPALIVE_IDLE = listener("tcp.keepalive.idle", "0",
            "TCP_KEEPIDLE in seconds (0 = the kernel's, 7200 on Linux)",
            Parsers.integer(0, 32767));
    public static final Key<Integer> KEEPALIVE_INTERVAL = listener("tcp.keepalive.interval", "0",
            "TCP_KEEPINTERVAL in seconds (0 = the kernel's)",
            Parsers.integer(0, 32767));
    public static final Key<Integer> KEEPALIVE_COUNT = listener("tcp.keepalive.count", "0",
            "TCP_KEEPCOUNT (0 = the kernel's)",
            Parsers.integer(0, 127));
    public static final Key<Boolean> REBALANCE = listener("rebalance", "off",
            "on: after a backend joins or comes back (once the set settled), or while the spread stays over"
                    + " rebalance.tolerance, ask the fewest clients needed to reconnect, paced, to bring it under",
            Parsers.choice("on or off", Map.of("on", true, "off", false, "true", true, "false", false)));
    public static final Key<Double> REBALANCE_TOLERANCE = listener("rebalance.tolerance", "1.2",
            "the spread (most loaded backend's sessions per unit of weight over the mean) a rebalance brings the"
                    + " backends under, and that triggers one after rebalance.after",
            Parsers.decimal(1.0, 100.0));
    public static final Key<Double> REBALANCE_RATE = listener("rebalance.rate", "10",
            "clients asked to reconnect per second at most, each at a jittered moment",
            Parsers.decimal(0.01, 100_000));
    public static final Key<Double> REBALANCE_MAX_SHARE = listener("rebalance.max.share", "0.25",
            "most sessions one rebalance may move, as a share of the backends' sessions",
            Parsers.decimal(0.0001, 1.0));
    public static final Key<Long> REBALANCE_SETTLE = listener("rebalance.settle", "10s",
            "a rebalance waits until the backend set has not changed for this long",
            Parsers.duration());
    public static final Key<Long> REBALANCE_AFTER = listener("rebalance.after", "1m",
            "with no backend change, a spread over the tolerance this long starts a rebalance (0 = only changes do)",
            Parsers.duration());
    public static final Key<Long> SLOWSTART = listener("backend.slowstart", "0",
            "least-conn and round-robin: a backend that joins (added, or back up) takes a share of new clients growing"
                    + " from 5% to its weight over this long (0 = at once)",
            Parsers.duration());
    public static final Key<io.nioproxy.tls.ServerNameRules<String>> SNI_ROUTES = listener("sni.routes", null,
            "NAME=POOL[,NAME=POOL...]: read each client's TLS ClientHello (not decrypted, not consumed) and send it"
                    + " to the pool of its server name; NAME is a host name or *.domain (any depth below it)",
            Settings::sniRoutes);
    public static final Key<String> SNI_DEFAULT = listener("sni.default", null,
            "with sni.routes: the pool of a hello whose name matches no rule or that has no name; default: the"
                    + " listener's own backends",
            (k, t) -> t.isBlank() ? null : t.trim());
    public static final Key<Long> SNI_TIMEOUT = listener("sni.timeout", "5s",
            "with sni.routes: deadline for the whole ClientHello, from accept (or from the end of a PROXY header)",
            Parsers.duration());
    public static final Key<Long> SNI_MAX = listener("sni.max", "auto",
            "with sni.routes: most bytes a ClientHello may take (auto = proxy.buffer.size; at most that)",
            (k, t) -> t.trim().equalsIgnoreCase("auto") ? -1L : Durations.parseBytes(k, t.trim()));

    /** Every known key, in documentation order. */
    public static final List<Key<?>> KEYS = List.of(WORKERS, CONFIG, LISTENERS, BUFFER_SIZE, POOL_BYTES, BULK_BUFFER_SIZE, ACCEPT, IO,
            ADMIN, ETCD_ENDPOINTS, ETCD_PREFIX, ETCD_TIMEOUT, TAKEOVER_SOCKET, SHUTDOWN_TIMEOUT, SHUTDOWN_PACE, ACCESS_LOG, ACCESS_LOG_INTERIM, WARMUP, LOOP_SPIN, BACKGROUND_NICE,
            LISTEN, BACKENDS, BACKENDS_FILE, BALANCE, CONNECT_TIMEOUT, IDLE_TIMEOUT, CONNECT_ATTEMPTS, BACKLOG,
            TCP_NODELAY, SOCKET_RCVBUF, SOCKET_SNDBUF, DNS_REFRESH, AFFINITY_TTL, AFFINITY_MAX, DRAIN_TIMEOUT,
            HEALTH_INTERVAL, HEALTH_TIMEOUT, HEALTH_RISE, HEALTH_FALL, HEALTH_SEND, HEALTH_EXPECT, HEALTH_HOLDDOWN,
            HEALTH_PASSIVE, HEALTH_ON_DOWN, HEALTH_CLOSE_GRACE, MAXCONN_GLOBAL, PROXY_SEND, PROXY_TRUSTED,
            PROXY_TIMEOUT, MAXCONN, BACKEND_MAXCONN, CLIENT_MAXCONN, CLIENT_RATE, HALFCLOSED_TIMEOUT, MAX_AGE,
            KEEPALIVE, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT, POOLS, SNI_ROUTES, SNI_DEFAULT, SNI_TIMEOUT,
            SNI_MAX, REBALANCE, REBALANCE_TOLERANCE, REBALANCE_RATE, REBALANCE_MAX_SHARE, REBALANCE_SETTLE,
            REBALANCE_AFTER, SLOWSTART);

    /**
     * The keys a pool takes under {@code proxy.pool.NAME.}: what is behind the accept — backends, how they are
     * chosen, checked and connected to. What belongs to the accepting side (address, PROXY header from clients,
     * client limits, session timeouts, routing) stays the listener's, for every session it accepted.
     */
    public static final List<Key<?>> POOL_KEYS = List.of(BACKENDS, BACKENDS_FILE, BALANCE, CONNECT_TIMEOUT,
            CONNECT_ATTEMPTS, TCP_NODELAY, SOCKET_RCVBUF, SOCKET_SNDBUF, DNS_REFRESH, AFFINITY_TTL, AFFINITY_MAX,
            DRAIN_TIMEOUT, HEALTH_INTERVAL, HEALTH_TIMEOUT, HEALTH_RISE, HEALTH_FALL, HEALTH_SEND, HEALTH_EXPECT,
            HEALTH_HOLDDOWN, HEALTH_PASSIVE, HEALTH_ON_DOWN, HEALTH_CLOSE_GRACE, PROXY_SEND, BACKEND_MAXCONN,
            KEEPALIVE, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT, REBALANCE, REBALANCE_TOLERANCE,
            REBALANCE_RATE, REBALANCE_MAX_SHARE, REBALANCE_SETTLE, REBALANCE_AFTER, SLOWSTART);

    private static final String BACKENDS_HELP = "no backends: give them as -Dproxy.backends=HOST:PORT[,HOST:PORT...]"
            + " (or proxy.listener.NAME.backends), or run with --demo to try nioproxy with three built-in backends";

    private final Map<String, String> values;
    /** Set while building: the backends of every listener and pool come from etcd. */
    private EtcdConfig etcd;

    private Settings(Map<String, String> values) {
        this.values = values;
    }

    /** Reads {@code proxy.config} (if given) under the system properties. */
    public static Settings fromSystem() {
        return from(System.getProperties());
    }

    /** Reads {@code props} (and the file its {@code proxy.config} names, which they override). */
    public static Settings from(Properties props) {
        Map<String, String> merged = new TreeMap<>();
        String file = props.getProperty(CONFIG.property());
        if (file != null) {
            Properties fromFile = new Properties();
            try (Reader r = Files.newBufferedReader(Path.of(file), StandardCharsets.UTF_8)) {
                fromFile.load(r);
            } catch (IOException | RuntimeException e) {
                throw ConfigException.bad(CONFIG.property(), file, "cannot read the file: " + e);
            }
            for (String k : fromFile.stringPropertyNames()) {
                if (!k.startsWith(PREFIX)) {
                    throw ConfigException.bad(k, fromFile.getProperty(k),
                            "unknown key in " + file + ": keys there start with 'proxy.'");
                }
                merged.put(k, fromFile.getProperty(k).trim());
            }
        }
        for (String k : props.stringPropertyNames()) {
            if (k.startsWith(PREFIX)) {
                merged.put(k, props.getProperty(k).trim());
            }
        }
        return new Settings(merged);
    }

    /**
     * Validates every key and builds the configuration: each value is parsed by its key's own parser (its default
     * when not given), then the few rules that join several keys are checked.
     */
    public ProxyConfig build() {
        List<String> listenerNames = listenerNames();
        List<String> poolNames = names(POOLS, "pool");
        for (String p : poolNames) {
            if (listenerNames.contains(p) && values.containsKey(LISTENERS.property())) {
                throw ConfigException.bad(POOLS.property(), values.get(POOLS.property()),
                        "'" + p + "' is a listener's name too; a pool and a listener are told apart by name");
            }
        }
        checkKnownKeys(listenerNames, poolNames);
        Map<String, String> effective = new LinkedHashMap<>();
        for (Key<?> k : KEYS) {
            if (k.scope() == Scope.GLOBAL) {
                value(k); // every global key is checked, whether or not the build below reads it
                effective.put(k.name(), text(k));
            }
        }

        int workers = values.containsKey(WORKERS.property()) ? value(WORKERS)
                : Runtime.getRuntime().availableProcessors();
        effective.put(WORKERS.name(), String.valueOf(workers));
        long buffer = value(BUFFER_SIZE);
        long pool = value(POOL_BYTES);
        if (pool < 4 * buffer) {
            throw ConfigException.bad(POOL_BYTES.property(), get(POOL_BYTES),
                    "expected at least four buffers (" + 4 * buffer + " bytes)");
        }
        long bulk = value(BULK_BUFFER_SIZE);
        if (bulk < 0) { // auto
            bulk = Math.min(4 * buffer, MIB16);
            if (bulk <= buffer || bulk > pool / 4) {
                bulk = 0; // a pool too small to spare bulk buffers: regular ones only
            }
        } else if (bulk != 0 && (bulk <= buffer || bulk > MIB16 || bulk > pool / 4)) {
            throw ConfigException.bad(BULK_BUFFER_SIZE.property(), get(BULK_BUFFER_SIZE),
                    "expected 0 (off) or a size above proxy.buffer.size (" + buffer + "), at most 16m and at most a"
                            + " quarter of proxy.buffer.pool.max");
        }
        effective.put(BULK_BUFFER_SIZE.name(), String.valueOf(bulk));
        IoMode ioMode = value(IO);
        effective.put(IO.name(), ioMode.name().toLowerCase(Locale.ROOT));

        List<HostPort> etcdEndpoints = value(ETCD_ENDPOINTS);
        long etcdTimeout = value(ETCD_TIMEOUT);
        if (etcdEndpoints != null && etcdTimeout == 0) {
            throw ConfigException.bad(ETCD_TIMEOUT.property(), "0", "a request to etcd needs a deadline");
        }
        etcd = etcdEndpoints == null ? null : new EtcdConfig(etcdEndpoints, value(ETCD_PREFIX), etcdTimeout);
        List<ListenerConfig> listeners = new ArrayList<>();
        boolean single = listenerNames.size() == 1 && !values.containsKey(LISTENERS.property());
        for (String name : listenerNames) {
            listeners.add(listener(name, single, (int) buffer, poolNames));
        }
        for (String name : poolNames) {
            listeners.add(pool(name));
        }
        Set<HostPort> seen = new LinkedHashSet<>();
        for (ListenerConfig l : listeners) {
            if (!l.pool() && l.listen().port() != 0 && !seen.add(l.listen())) {
                throw ConfigException.bad(listenerKey(single ? null : LISTENER_PREFIX + l.name() + ".", LISTEN), l.listen().toString(),
                        "two listeners cannot share one address");
            }
        }
        return new ProxyConfig(workers, (int) buffer, pool, value(ACCEPT), listeners, value(ADMIN),
                value(SHUTDOWN_TIMEOUT), value(SHUTDOWN_PACE), value(ACCESS_LOG), value(ACCESS_LOG_INTERIM),
                value(MAXCONN_GLOBAL), value(WARMUP), ioMode, (int) bulk, value(LOOP_SPIN), value(BACKGROUND_NICE),
                etcd, value(TAKEOVER_SOCKET), effective);
    }

    /** {@code HOST:PORT[,HOST:PORT...]}, each optionally written {@code http://HOST:PORT}. */
    private static List<HostPort> etcdEndpoints(String key, String text) {
        if (text.isBlank()) {
            return null;
        }
        List<HostPort> out = new ArrayList<>();
        for (String part : text.split(",")) {
            String p = part.trim();
            if (p.startsWith("https://")) {
                throw ConfigException.bad(key, text, "TLS to etcd is not supported: reach it over loopback or a"
                        + " local etcd grpc-proxy (http://HOST:PORT)");
            }
            p = p.startsWith("http://") ? p.substring("http://".length()) : p;
            p = p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
            if (p.isEmpty()) {
                throw ConfigException.bad(key, text, "an empty entry between commas");
            }
            out.add(HostPort.parse(key, p));
        }
        return List.copyOf(out);
    }

    private static String etcdPrefix(String key, String text) {
        String t = text.trim();
        if (t.isEmpty() || t.chars().anyMatch(c -> c < 0x21 || c > 0x7e)) {
            throw ConfigException.bad(key, text, "expected a non-empty key prefix of printable ASCII, no spaces");
        }
        return t.endsWith("/") ? t : t + "/";
    }

    /** A global key's value: its parser over the given text, or over its default; null when it has neither. */
    private <T> T value(Key<T> key) {
        String text = get(key);
        return text == null ? null : key.parser().parse(key.property(), text);
    }

    /**
     * A listener or pool key's value, from the section's own key ({@code own} + name) when given, else the default
     * key, else the default. {@code own} is {@code proxy.listener.NAME.} or {@code proxy.pool.NAME.}; null for the
     * single listener configured by the default keys alone.
     */
    private <T> T value(String own, Key<T> key) {
        String text = lget(own, key);
        return text == null ? null : key.parser().parse(listenerKey(own, key), text);
    }

    private String text(Key<?> key) {
        String t = get(key);
        return t == null ? "-" : t;
    }

    /** {@code auto} (-1), {@code off}/{@code 0}, or a size. */
    private static long bulkSize(String key, String text) {
        String t = text.trim();
        if (t.equalsIgnoreCase("auto")) {
            return -1;
        }
        return t.equalsIgnoreCase("off") ? 0 : Durations.parseBytes(key, t);
    }

    private static io.nioproxy.tls.ServerNameRules<String> sniRoutes(String key, String text) {
        if (text.isBlank()) {
            return null;
        }
        try {
            return io.nioproxy.tls.ServerNameRules.parse(text);
        } catch (IllegalArgumentException e) {
            throw ConfigException.bad(key, text, e.getMessage());
        }
    }

    private static IoMode ioMode(String key, String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "auto" -> Linux.AVAILABLE ? IoMode.EPOLL : IoMode.NIO;
            case "nio" -> IoMode.NIO;
            case "epoll" -> {
                if (!Linux.AVAILABLE) {
                    throw ConfigException.bad(key, text, "epoll is not available here: " + Linux.UNAVAILABLE_REASON);
                }
                yield IoMode.EPOLL;
            }
            default -> throw ConfigException.bad(key, text, "expected auto, epoll or nio");
        };
    }

    private static BalancePolicy balance(String key, String text) {
        BalancePolicy balance = BalancePolicy.fromConfigName(text);
        if (balance == null) {
            throw ConfigException.bad(key, text, "expected source-ip, source-ip-port, round-robin or least-conn");
        }
        return balance;
    }

    private static List<Cidr> cidrs(String key, String text) {
        List<Cidr> trusted = new ArrayList<>();
        for (String part : text.split(",")) {
            if (!part.isBlank()) {
                trusted.add(Cidr.parse(key, part));
            }
        }
        return List.copyOf(trusted);
    }

    private List<String> listenerNames() {
        return values.containsKey(LISTENERS.property()) ? names(LISTENERS, "listener") : List.of("default");
    }

    /** The names a list key gives ({@code proxy.listeners}, {@code proxy.pools}); none when it is not set. */
    private List<String> names(Key<String> key, String what) {
        String list = values.get(key.property());
        if (list == null) {
            return List.of();
        }
        List<String> names = new ArrayList<>();
        for (String n : list.split(",")) {
            String name = n.trim();
            if (!name.matches("[A-Za-z0-9_-]+")) {
                throw ConfigException.bad(key.property(), list,
                        "expected NAME[,NAME...] with names of letters, digits, '-' or '_'");
            }
            if (names.contains(name)) {
                throw ConfigException.bad(key.property(), list, what + " '" + name + "' is named twice");
            }
            names.add(name);
        }
        return names;
    }

    private void checkKnownKeys(List<String> listenerNames, List<String> poolNames) {
        Map<String, Key<?>> byName = new LinkedHashMap<>();
        for (Key<?> k : KEYS) {
            byName.put(k.name(), k);
        }
        for (Map.Entry<String, String> e : values.entrySet()) {
            String key = e.getKey();
            if (key.startsWith(POOL_PREFIX)) {
                String rest = key.substring(POOL_PREFIX.length());
                int dot = rest.indexOf('.');
                String name = dot < 0 ? rest : rest.substring(0, dot);
                Key<?> k = dot < 0 ? null : byName.get(rest.substring(dot + 1));
                if (!poolNames.contains(name)) {
                    throw ConfigException.bad(key, e.getValue(), "pool '" + name + "' is not named in "
                            + POOLS.property() + (poolNames.isEmpty() ? " (not set)"
                            : "=" + values.get(POOLS.property())));
                }
                if (k == null || !POOL_KEYS.contains(k)) {
                    throw ConfigException.bad(key, e.getValue(), "unknown key; a pool takes " + names(POOL_KEYS)
                            + " (what belongs to accepting clients is set on the listener)");
                }
            } else if (key.startsWith(LISTENER_PREFIX)) {
                String rest = key.substring(LISTENER_PREFIX.length());
                int dot = rest.indexOf('.');
                String name = dot < 0 ? rest : rest.substring(0, dot);
                Key<?> k = dot < 0 ? null : byName.get(rest.substring(dot + 1));
                if (!listenerNames.contains(name) || !values.containsKey(LISTENERS.property())) {
                    throw ConfigException.bad(key, e.getValue(), "listener '" + name + "' is not named in "
                            + LISTENERS.property() + (values.containsKey(LISTENERS.property())
                            ? "=" + values.get(LISTENERS.property()) : " (not set)"));
                }
                if (k == null || k.scope() != Scope.LISTENER) {
                    throw ConfigException.bad(key, e.getValue(), "unknown key; a listener takes " + listenerKeyNames());
                }
            } else {
                Key<?> k = byName.get(key.substring(PREFIX.length()));
                if (k == null) {
                    throw ConfigException.bad(key, e.getValue(), "unknown key; known keys: proxy." + String.join(", proxy.",
                            byName.keySet()) + ", proxy.listener.NAME.KEY, proxy.pool.NAME.KEY");
                }
            }
        }
    }

    private static String listenerKeyNames() {
        return names(KEYS.stream().filter(k -> k.scope() == Scope.LISTENER).toList());
    }

    private static String names(List<Key<?>> keys) {
        return String.join(", ", keys.stream().map(Key::name).toList());
    }

    /** Listener {@code name}: its own keys ({@code proxy.listener.NAME.}, unless it is the single one) over defaults. */
    private ListenerConfig listener(String name, boolean single, int bufferBytes, List<String> poolNames) {
        String own = single ? null : LISTENER_PREFIX + name + ".";
        return section(name, own, false, sni(own, bufferBytes, poolNames));
    }

    /** Pool {@code name}: its {@code proxy.pool.NAME.} keys over the defaults; no address, no routing of its own. */
    private ListenerConfig pool(String name) {
        return section(name, POOL_PREFIX + name + ".", true, null);
    }

    /** A listener's routing by server name; null when it has no {@code sni.routes}. */
    private SniConfig sni(String own, int bufferBytes, List<String> poolNames) {
        io.nioproxy.tls.ServerNameRules<String> rules = value(own, SNI_ROUTES);
        String defaultPool = value(own, SNI_DEFAULT);
        if (rules == null) {
            if (defaultPool != null) {
                throw ConfigException.bad(listenerKey(own, SNI_DEFAULT), defaultPool, "given without "
                        + listenerKey(own, SNI_ROUTES) + ": a listener without routes never reads a hello");
            }
            return null;
        }
        String routesKey = listenerKey(own, SNI_ROUTES);
        for (String pool : rules.patterns().values()) {
            if (!poolNames.contains(pool)) {
                throw ConfigException.bad(routesKey, lget(own, SNI_ROUTES), "pool '" + pool + "' is not named in "
                        + POOLS.property() + (poolNames.isEmpty() ? " (not set)" : "=" + values.get(POOLS.property())));
            }
        }
        if (defaultPool != null && !poolNames.contains(defaultPool)) {
            throw ConfigException.bad(listenerKey(own, SNI_DEFAULT), defaultPool, "pool '" + defaultPool
                    + "' is not named in " + POOLS.property()
                    + (poolNames.isEmpty() ? " (not set)" : "=" + values.get(POOLS.property())));
        }
        long timeout = value(own, SNI_TIMEOUT);
        if (timeout == 0) {
            throw ConfigException.bad(listenerKey(own, SNI_TIMEOUT), "0",
                    "a ClientHello needs a deadline, or a silent client holds its socket forever");
        }
        long max = value(own, SNI_MAX);
        if (max < 0) {
            max = bufferBytes;
        } else if (max < 64 || max > bufferBytes) {
            throw ConfigException.bad(listenerKey(own, SNI_MAX), lget(own, SNI_MAX),
                    "expected from 64 bytes to proxy.buffer.size (" + bufferBytes + "): the hello is read into one buffer");
        }
        return new SniConfig(rules, defaultPool, timeout, (int) max);
    }

    /**
     * The settings of a listener, or of a pool (what is behind a listener's accept, without an address of its own).
     */
    private ListenerConfig section(String name, String own, boolean pool, SniConfig sni) {
        Map<String, String> effective = new LinkedHashMap<>();
        for (Key<?> k : pool ? POOL_KEYS : KEYS) {
            if (k.scope() == Scope.LISTENER) {
                value(own, k); // every key of the section is checked by its parser
                String t = lget(own, k);
                effective.put(k.name(), t == null ? "-" : t);
            }
        }
        String backendsKey = pool ? own + BACKENDS.name() : listenerKey(own, BACKENDS);
        // a pool's backends are its own: the default proxy.backends (the single listener's) is not inherited
        String backendsText = pool ? values.get(own + BACKENDS.name()) : lget(own, BACKENDS);
        String file = pool && !values.containsKey(own + BACKENDS_FILE.name()) ? null : value(own, BACKENDS_FILE);
        if (etcd != null) {
            // one source of truth: a second list here would make this instance disagree with the fleet
            if (backendsText != null || file != null) {
                String key = backendsText != null ? backendsKey : listenerKey(own, BACKENDS_FILE);
                throw ConfigException.bad(key, backendsText != null ? backendsText : file, "backends come from etcd ("
                        + ETCD_ENDPOINTS.property() + " is set), under " + etcd.poolPrefix(name) + "; remove " + key);
            }
            backendsText = "";
        } else if (file != null) {
            if (backendsText != null) {
                throw ConfigException.bad(backendsKey, backendsText, "give either " + backendsKey + " or "
                        + listenerKey(own, BACKENDS_FILE) + ", not both");
            }
            backendsText = "";
        } else if (sni != null && sni.defaultPool() != null) {
            // the default pool takes what no rule does: the listener's own backends would never be used
            if (backendsText != null) {
                throw ConfigException.bad(backendsKey, backendsText, "never used: "
                        + listenerKey(own, SNI_DEFAULT) + " takes every hello no rule matches");
            }
            backendsText = "";
        } else if (backendsText == null || backendsText.isBlank()) {
            throw new ConfigException(backendsKey + (backendsText == null ? " is not set: " : " is empty: ")
                    + (pool ? "a pool needs backends of its own (" + backendsKey + " or " + own + BACKENDS_FILE.name()
                    + ")" : sni != null ? "a listener with sni.routes needs backends of its own or an sni.default pool"
                    : BACKENDS_HELP));
        }
        List<BackendSpec> backends = new ArrayList<>();
        Set<String> ids = new LinkedHashSet<>();
        for (String part : backendsText.isEmpty() ? new String[0] : backendsText.split(",")) {
            if (part.isBlank()) {
                throw ConfigException.bad(backendsKey, backendsText, "an empty entry between commas");
            }
            BackendSpec b = BackendSpec.parse(backendsKey, part);
            if (!ids.add(b.identity())) {
                throw ConfigException.bad(backendsKey, backendsText, "backend " + b.identity() + " is listed twice");
            }
            backends.add(b);
        }
        HealthConfig health = new HealthConfig(value(own, HEALTH_INTERVAL), value(own, HEALTH_TIMEOUT),
                value(own, HEALTH_RISE), value(own, HEALTH_FALL), value(own, HEALTH_SEND),
                value(own, HEALTH_EXPECT), value(own, HEALTH_HOLDDOWN),
                value(own, HEALTH_PASSIVE), value(own, HEALTH_ON_DOWN),
                value(own, HEALTH_CLOSE_GRACE));
        if (health.intervalNanos() > 0 && health.timeoutNanos() == 0) {
            throw ConfigException.bad(listenerKey(own, HEALTH_TIMEOUT), "0", "an active check needs a timeout");
        }
        List<Cidr> trusted = value(own, PROXY_TRUSTED);
        boolean keepAlive = keepAlive(own);
        effective.put(KEEPALIVE.name(), String.valueOf(keepAlive));
        Protection protection = new Protection(value(own, PROXY_SEND), trusted,
                value(own, PROXY_TIMEOUT), value(own, MAXCONN), value(own, BACKEND_MAXCONN),
                value(own, CLIENT_MAXCONN), value(own, CLIENT_RATE),
                value(own, HALFCLOSED_TIMEOUT), value(own, MAX_AGE), keepAlive,
                value(own, KEEPALIVE_IDLE), value(own, KEEPALIVE_INTERVAL),
                value(own, KEEPALIVE_COUNT));
        if (!trusted.isEmpty() && protection.proxyHeaderTimeoutNanos() == 0) {
            throw ConfigException.bad(listenerKey(own, PROXY_TIMEOUT), "0",
                    "a PROXY header needs a deadline, or a silent client holds its socket forever");
        }
        return new ListenerConfig(name, pool ? null : value(own, LISTEN), backends, value(own, BALANCE),
                value(own, CONNECT_TIMEOUT), value(own, IDLE_TIMEOUT),
                value(own, CONNECT_ATTEMPTS), value(own, BACKLOG), value(own, TCP_NODELAY),
                value(own, SOCKET_RCVBUF).intValue(), value(own, SOCKET_SNDBUF).intValue(), health,
                value(own, AFFINITY_TTL), value(own, AFFINITY_MAX), file,
                value(own, DNS_REFRESH), value(own, DRAIN_TIMEOUT), protection, sni,
                new RebalanceConfig(value(own, REBALANCE), value(own, REBALANCE_TOLERANCE), value(own, REBALANCE_RATE),
                        value(own, REBALANCE_MAX_SHARE), value(own, REBALANCE_SETTLE), value(own, REBALANCE_AFTER)),
                value(own, SLOWSTART), effective);
    }

    /**
     * Off by default, as in HAProxy ({@code option tcpka}) and nginx ({@code so_keepalive}): with the kernel's
     * timing (two hours idle) it finds nothing in time and costs two setsockopt calls per session. Giving any of the
     * timings turns it on, since that is what they are for.
     */
    private boolean keepAlive(String own) {
        if (values.containsKey(listenerKey(own, KEEPALIVE))) {
            return value(own, KEEPALIVE);
        }
        for (Key<Integer> k : List.of(KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)) {
            if (value(own, k) != 0) {
                return true;
            }
        }
        return false;
    }

    /** {@code \r}, {@code \n}, {@code \t} and {@code \\} in a check's send/expect text; null stays null. */
    static String unescape(String text) {
        if (text == null || text.isEmpty()) {
            return null;
        }
        return text.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\");
    }

    /** The key a section's value came from: its own ({@code own} + name) if set, else the default. */
    private String listenerKey(String own, Key<?> key) {
        return own != null && values.containsKey(own + key.name()) ? own + key.name() : key.property();
    }

    private String lget(String own, Key<?> key) {
        if (own != null) {
            String v = values.get(own + key.name());
            if (v != null) {
                return v;
            }
        }
        return values.getOrDefault(key.property(), key.defaultValue());
    }

    private String get(Key<?> key) {
        return values.getOrDefault(key.property(), key.defaultValue());
    }

    /**
     * The effective settings, for the start-up log: every global key on the first line, then a line per listener with
     * every listener key — each as given, or its default ({@code -}: none).
     */
    public static String describe(ProxyConfig c) {
        StringBuilder sb = new StringBuilder();
        c.effective().forEach((k, v) -> sb.append(sb.length() == 0 ? "" : " ").append(k).append('=').append(v));
        for (ListenerConfig l : c.listeners()) {
            sb.append(System.lineSeparator()).append(l.pool() ? "  pool " : "  listener ").append(l.name()).append(':');
            l.effective().forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        }
        return sb.toString();
    }
}
