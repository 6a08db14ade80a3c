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

    /** The property {@code key} of listener {@code listener} is read from, for error messages. */
    public static String propertyOf(String listener, Key key) {
        return listener.equals("default") ? key.property() : LISTENER_PREFIX + listener + "." + key.name();
    }

    /** Scope of a key: process-wide, or per listener (with its default given directly under {@code proxy.}). */
    public enum Scope { GLOBAL, LISTENER }

    /** A known setting: name (after {@code proxy.}), scope, default (null = required or computed), meaning. */
    public record Key(String name, Scope scope, String defaultValue, String meaning) {
        public String property() {
            return PREFIX + name;
        }
    }

    public static final Key CONFIG = new Key("config", Scope.GLOBAL, null,
            "properties file with more proxy.* keys (system properties win)");
    public static final Key WORKERS = new Key("workers", Scope.GLOBAL, null,
            "number of event loops (threads); default: number of cores");
    public static final Key LISTENERS = new Key("listeners", Scope.GLOBAL, null,
            "NAME[,NAME...]: several listeners, each configured by proxy.listener.NAME.KEY");
    public static final Key BUFFER_SIZE = new Key("buffer.size", Scope.GLOBAL, "16k",
            "bytes of one pooled relay buffer (per direction in flight)");
    public static final Key POOL_BYTES = new Key("buffer.pool.max", Scope.GLOBAL, "64m",
            "most direct memory one loop's buffer pool may hold; past it, reads wait for a free buffer");
    public static final Key BULK_BUFFER_SIZE = new Key("buffer.bulk.size", Scope.GLOBAL, "auto",
            "relay buffer for a direction that keeps filling regular ones (bulk transfer): auto (4 x buffer.size),"
                    + " a size, or 0 (off)");
    public static final Key ACCEPT = new Key("accept", Scope.GLOBAL, "reuseport",
            "reuseport (a listening socket per loop, SO_REUSEPORT) or acceptor (loop 0 accepts and hands off)");

    public static final Key IO = new Key("io", Scope.GLOBAL, "auto",
            "auto (epoll where available: Linux, JDK 22+), epoll (direct Linux calls), or nio (java.nio selectors)");

    public static final Key LISTEN = new Key("listen", Scope.LISTENER, "0.0.0.0:8080", "HOST:PORT to accept clients on");
    public static final Key BACKENDS = new Key("backends", Scope.LISTENER, null,
            "HOST:PORT[@WEIGHT][,HOST:PORT[@WEIGHT]...]");
    public static final Key BALANCE = new Key("balance", Scope.LISTENER, "source-ip",
            "source-ip | source-ip-port | round-robin | least-conn");
    public static final Key CONNECT_TIMEOUT = new Key("connect.timeout", Scope.LISTENER, "5s",
            "backend connect timeout per attempt (0 = none)");
    public static final Key IDLE_TIMEOUT = new Key("idle.timeout", Scope.LISTENER, "0",
            "close a session idle in both directions this long (0 = never: WebSocket-safe)");
    public static final Key CONNECT_ATTEMPTS = new Key("connect.attempts", Scope.LISTENER, "3",
            "backends tried, in the hash's preference order, before the client is closed");
    public static final Key BACKLOG = new Key("backlog", Scope.LISTENER, "4096", "listen backlog");
    public static final Key TCP_NODELAY = new Key("tcp.nodelay", Scope.LISTENER, "true", "TCP_NODELAY on both legs");
    public static final Key SOCKET_RCVBUF = new Key("socket.rcvbuf", Scope.LISTENER, "0",
            "SO_RCVBUF on both legs (0 = kernel default with auto-tuning)");
    public static final Key SOCKET_SNDBUF = new Key("socket.sndbuf", Scope.LISTENER, "0",
            "SO_SNDBUF on both legs (0 = kernel default with auto-tuning)");

    public static final Key ADMIN = new Key("admin", Scope.GLOBAL, null,
            "HOST:PORT of the admin HTTP endpoint (GET /backends, add, drain, remove, weight); off unless set");
    public static final Key SHUTDOWN_TIMEOUT = new Key("shutdown.timeout", Scope.GLOBAL, "10s",
            "on SIGTERM: stop accepting, let sessions finish this long, then close the rest paced");
    public static final Key SHUTDOWN_PACE = new Key("shutdown.pace", Scope.GLOBAL, "10s",
            "the window over which sessions still open at shutdown are closed, spread out and jittered");

    public static final Key ACCESS_LOG = new Key("access.log", Scope.GLOBAL, "off",
            "one line per session at its end: off, stdout, stderr or a file path (appended)");
    public static final Key ACCESS_LOG_INTERIM = new Key("access.log.interim", Scope.GLOBAL, "0",
            "sessions longer than this get an interim access-log line at this interval (0 = none)");

    public static final Key BACKENDS_FILE = new Key("backends.file", Scope.LISTENER, null,
            "file with one HOST:PORT[@WEIGHT] per line (# comments), re-read when it changes");
    public static final Key DNS_REFRESH = new Key("dns.refresh", Scope.LISTENER, "0",
            "re-resolve host-name backends this often; every address is a backend (0 = once at start)");
    public static final Key AFFINITY_TTL = new Key("affinity.ttl", Scope.LISTENER, "5m",
            "source-ip: remember each client's backend this long after its last connection (0 = off)");
    public static final Key AFFINITY_MAX = new Key("affinity.max", Scope.LISTENER, "100000",
            "source-ip: clients remembered at most");
    public static final Key DRAIN_TIMEOUT = new Key("drain.timeout", Scope.LISTENER, "0",
            "default deadline of a drain; its sessions are closed past it (0 = they run to their end)");
    public static final Key HEALTH_INTERVAL = new Key("health.interval", Scope.LISTENER, "0",
            "active check of every backend this often (0 = passive checks only)");
    public static final Key HEALTH_TIMEOUT = new Key("health.timeout", Scope.LISTENER, "1s",
            "deadline of one active check (connect, and the reply when health.expect is set)");
    public static final Key HEALTH_RISE = new Key("health.rise", Scope.LISTENER, "2",
            "consecutive good checks that bring a down backend up");
    public static final Key HEALTH_FALL = new Key("health.fall", Scope.LISTENER, "3",
            "consecutive failures (checks, or client connects when passive) that take a backend down");
    public static final Key HEALTH_SEND = new Key("health.send", Scope.LISTENER, null,
            "bytes an active check sends after connecting (\\r \\n \\t escapes)");
    public static final Key HEALTH_EXPECT = new Key("health.expect", Scope.LISTENER, null,
            "an active check passes only if the reply starts with these bytes");
    public static final Key HEALTH_HOLDDOWN = new Key("health.holddown", Scope.LISTENER, "10s",
            "a backend that went down stays out at least this long (passive only: then it is retried)");
    public static final Key HEALTH_PASSIVE = new Key("health.passive", Scope.LISTENER, "true",
            "clients' failed connects count toward health.fall");
    public static final Key HEALTH_ON_DOWN = new Key("health.on.down", Scope.LISTENER, "keep",
            "sessions of a backend that goes down: keep, or close (after health.close.grace)");
    public static final Key HEALTH_CLOSE_GRACE = new Key("health.close.grace", Scope.LISTENER, "0",
            "with health.on.down=close: delay before the sessions are closed");

    public static final Key LOOP_SPIN = new Key("loop.spin", Scope.GLOBAL, "0",
            "non-blocking polls a loop makes after a busy one before it sleeps: fewer sleeps and wake-ups (lower"
                    + " latency, less work for the threads that wake it) for more CPU of its own (0 = sleep at once)");
    public static final Key BACKGROUND_NICE = new Key("background.nice", Scope.GLOBAL, "10",
            "nice value of the control and health-check threads and the JIT compiler threads, so that they never"
                    + " hold a loop up on its core (0-19; 0 = leave them; JDK 22+ on Linux)");
    public static final Key WARMUP = new Key("warmup", Scope.GLOBAL, "20000",
            "round trips run through a private loopback balancer at start so the JIT has compiled the data path"
                    + " before the first client (0 = off)");
    public static final Key MAXCONN_GLOBAL = new Key("maxconn.global", Scope.GLOBAL, "0",
            "sessions of the whole process at once (0 = no limit); past it, accepting pauses");
    public static final Key PROXY_SEND = new Key("proxyprotocol.send", Scope.LISTENER, "off",
            "send a PROXY protocol header to backends: off, v1 or v2");
    public static final Key PROXY_TRUSTED = new Key("proxyprotocol.trusted", Scope.LISTENER, "",
            "CIDR[,CIDR...]: connections from these sources must start with a PROXY v1/v2 header");
    public static final Key PROXY_TIMEOUT = new Key("proxyprotocol.timeout", Scope.LISTENER, "3s",
            "deadline for that header, from accept");
    public static final Key MAXCONN = new Key("maxconn", Scope.LISTENER, "0",
            "sessions of this listener at once (0 = no limit); past it, accepting pauses");
    public static final Key BACKEND_MAXCONN = new Key("backend.maxconn", Scope.LISTENER, "0",
            "sessions per backend at once (0 = no limit); a full backend spills to the next choice");
    public static final Key CLIENT_MAXCONN = new Key("client.maxconn", Scope.LISTENER, "0",
            "sessions per client address at once (0 = no limit)");
    public static final Key CLIENT_RATE = new Key("client.rate", Scope.LISTENER, "0",
            "new connections per client address per second, a sliding estimate over the last second (0 = no limit)");
    /** The highest {@link #CLIENT_RATE}: the limiter's per-second counts have 20 bits. */
    public static final int CLIENT_RATE_MAX = 1_000_000;
    public static final Key HALFCLOSED_TIMEOUT = new Key("halfclosed.timeout", Scope.LISTENER, "1m",
            "once one side sent FIN, close after this long with no byte either way (0 = never)");
    public static final Key MAX_AGE = new Key("session.max.age", Scope.LISTENER, "0",
            "close any session this old (0 = never)");
    public static final Key KEEPALIVE = new Key("tcp.keepalive", Scope.LISTENER, "false",
            "SO_KEEPALIVE on both legs, so half-open peers are found (on by itself when a tcp.keepalive.* timing is set)");
    public static final Key KEEPALIVE_IDLE = new Key("tcp.keepalive.idle", Scope.LISTENER, "0",
            "TCP_KEEPIDLE in seconds (0 = the kernel's, 7200 on Linux)");
    public static final Key KEEPALIVE_INTERVAL = new Key("tcp.keepalive.interval", Scope.LISTENER, "0",
            "TCP_KEEPINTERVAL in seconds (0 = the kernel's)");
    public static final Key KEEPALIVE_COUNT = new Key("tcp.keepalive.count", Scope.LISTENER, "0",
            "TCP_KEEPCOUNT (0 = the kernel's)");

    /** Every known key, in documentation order. */
    public static final List<Key> KEYS = List.of(CONFIG, WORKERS, LISTENERS, BUFFER_SIZE, POOL_BYTES, BULK_BUFFER_SIZE, ACCEPT, IO,
            ADMIN, SHUTDOWN_TIMEOUT, SHUTDOWN_PACE, ACCESS_LOG, ACCESS_LOG_INTERIM, WARMUP, LOOP_SPIN, BACKGROUND_NICE,
            LISTEN, BACKENDS, BACKENDS_FILE, BALANCE, CONNECT_TIMEOUT, IDLE_TIMEOUT, CONNECT_ATTEMPTS, BACKLOG,
            TCP_NODELAY, SOCKET_RCVBUF, SOCKET_SNDBUF, DNS_REFRESH, AFFINITY_TTL, AFFINITY_MAX, DRAIN_TIMEOUT,
            HEALTH_INTERVAL, HEALTH_TIMEOUT, HEALTH_RISE, HEALTH_FALL, HEALTH_SEND, HEALTH_EXPECT, HEALTH_HOLDDOWN,
            HEALTH_PASSIVE, HEALTH_ON_DOWN, HEALTH_CLOSE_GRACE, MAXCONN_GLOBAL, PROXY_SEND, PROXY_TRUSTED,
            PROXY_TIMEOUT, MAXCONN, BACKEND_MAXCONN, CLIENT_MAXCONN, CLIENT_RATE, HALFCLOSED_TIMEOUT, MAX_AGE,
            KEEPALIVE, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);

    private static final String BACKENDS_HELP = "no backends: give them as -Dproxy.backends=HOST:PORT[,HOST:PORT...]"
            + " (or proxy.listener.NAME.backends), or run with --demo to try nioproxy with three built-in backends";

    private final Map<String, String> values;

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

    /** Validates every key and builds the configuration. */
    public ProxyConfig build() {
        List<String> listenerNames = listenerNames();
        checkKnownKeys(listenerNames);

        int cores = Runtime.getRuntime().availableProcessors();
        int workers = intValue(WORKERS.property(), values.getOrDefault(WORKERS.property(), String.valueOf(cores)), 1, 1024);
        long buffer = Durations.parseBytes(BUFFER_SIZE.property(), get(BUFFER_SIZE));
        if (buffer < 1024 || buffer > 16 * 1024 * 1024) {
            throw ConfigException.bad(BUFFER_SIZE.property(), get(BUFFER_SIZE), "expected a size from 1k to 16m");
        }
        long pool = Durations.parseBytes(POOL_BYTES.property(), get(POOL_BYTES));
        if (pool < 4 * buffer) {
            throw ConfigException.bad(POOL_BYTES.property(), get(POOL_BYTES),
                    "expected at least four buffers (" + 4 * buffer + " bytes)");
        }
        String bulkText = get(BULK_BUFFER_SIZE).trim();
        long bulk;
        if (bulkText.equalsIgnoreCase("auto")) {
            bulk = Math.min(4 * buffer, 16 * 1024 * 1024);
            if (bulk <= buffer || bulk > pool / 4) {
                bulk = 0; // a pool too small to spare bulk buffers: regular ones only
            }
        } else {
            bulk = bulkText.equalsIgnoreCase("off") ? 0 : Durations.parseBytes(BULK_BUFFER_SIZE.property(), bulkText);
        }
        if (bulk != 0 && (bulk <= buffer || bulk > 16 * 1024 * 1024 || bulk > pool / 4)) {
            throw ConfigException.bad(BULK_BUFFER_SIZE.property(), get(BULK_BUFFER_SIZE),
                    "expected 0 (off) or a size above proxy.buffer.size (" + buffer + "), at most 16m and at most a"
                            + " quarter of proxy.buffer.pool.max");
        }
        AcceptMode accept = switch (get(ACCEPT).toLowerCase(Locale.ROOT)) {
            case "reuseport" -> AcceptMode.REUSEPORT;
            case "acceptor" -> AcceptMode.ACCEPTOR;
            default -> throw ConfigException.bad(ACCEPT.property(), get(ACCEPT), "expected reuseport or acceptor");
        };
        IoMode ioMode = switch (get(IO).toLowerCase(Locale.ROOT)) {
            case "auto" -> Linux.AVAILABLE ? IoMode.EPOLL : IoMode.NIO;
            case "nio" -> IoMode.NIO;
            case "epoll" -> {
                if (!Linux.AVAILABLE) {
                    throw ConfigException.bad(IO.property(), get(IO),
                            "epoll is not available here: " + Linux.UNAVAILABLE_REASON);
                }
                yield IoMode.EPOLL;
            }
            default -> throw ConfigException.bad(IO.property(), get(IO), "expected auto, epoll or nio");
        };

        List<ListenerConfig> listeners = new ArrayList<>();
        for (String name : listenerNames) {
            listeners.add(listener(name, listenerNames.size() == 1 && !values.containsKey(LISTENERS.property())));
        }
        Set<HostPort> seen = new LinkedHashSet<>();
        for (ListenerConfig l : listeners) {
            if (l.listen().port() != 0 && !seen.add(l.listen())) {
                throw ConfigException.bad(listenerKey(l.name(), LISTEN, false), l.listen().toString(),
                        "two listeners cannot share one address");
            }
        }
        String adminText = values.get(ADMIN.property());
        HostPort admin = adminText == null || adminText.isBlank() ? null : HostPort.parse(ADMIN.property(), adminText, true);
        long shutdownTimeout = Durations.parseNanos(SHUTDOWN_TIMEOUT.property(), get(SHUTDOWN_TIMEOUT));
        long shutdownPace = Durations.parseNanos(SHUTDOWN_PACE.property(), get(SHUTDOWN_PACE));
        String accessLog = get(ACCESS_LOG).trim();
        if (accessLog.isEmpty() || accessLog.equalsIgnoreCase("off")) {
            accessLog = null;
        }
        long interim = Durations.parseNanos(ACCESS_LOG_INTERIM.property(), get(ACCESS_LOG_INTERIM));
        int maxConnGlobal = intValue(MAXCONN_GLOBAL.property(), get(MAXCONN_GLOBAL), 0, Integer.MAX_VALUE);
        int warmup = intValue(WARMUP.property(), get(WARMUP), 0, 10_000_000);
        int spin = intValue(LOOP_SPIN.property(), get(LOOP_SPIN), 0, 1_000_000);
        int nice = intValue(BACKGROUND_NICE.property(), get(BACKGROUND_NICE), 0, 19);
        return new ProxyConfig(workers, (int) buffer, pool, accept, listeners, admin, shutdownTimeout, shutdownPace,
                accessLog, interim, maxConnGlobal, warmup, ioMode, (int) bulk, spin, nice);
    }

    private List<String> listenerNames() {
        String list = values.get(LISTENERS.property());
        if (list == null) {
            return List.of("default");
        }
        List<String> names = new ArrayList<>();
        for (String n : list.split(",")) {
            String name = n.trim();
            if (!name.matches("[A-Za-z0-9_-]+")) {
                throw ConfigException.bad(LISTENERS.property(), list,
                        "expected NAME[,NAME...] with names of letters, digits, '-' or '_'");
            }
            if (names.contains(name)) {
                throw ConfigException.bad(LISTENERS.property(), list, "listener '" + name + "' is named twice");
            }
            names.add(name);
        }
        return names;
    }

    private void checkKnownKeys(List<String> listenerNames) {
        Map<String, Key> byName = new LinkedHashMap<>();
        for (Key k : KEYS) {
            byName.put(k.name(), k);
        }
        for (Map.Entry<String, String> e : values.entrySet()) {
            String key = e.getKey();
            if (key.startsWith(LISTENER_PREFIX)) {
                String rest = key.substring(LISTENER_PREFIX.length());
                int dot = rest.indexOf('.');
                String name = dot < 0 ? rest : rest.substring(0, dot);
                Key k = dot < 0 ? null : byName.get(rest.substring(dot + 1));
                if (!listenerNames.contains(name) || !values.containsKey(LISTENERS.property())) {
                    throw ConfigException.bad(key, e.getValue(), "listener '" + name + "' is not named in "
                            + LISTENERS.property() + (values.containsKey(LISTENERS.property())
                            ? "=" + values.get(LISTENERS.property()) : " (not set)"));
                }
                if (k == null || k.scope() != Scope.LISTENER) {
                    throw ConfigException.bad(key, e.getValue(), "unknown key; a listener takes " + listenerKeyNames());
                }
            } else {
                Key k = byName.get(key.substring(PREFIX.length()));
                if (k == null) {
                    throw ConfigException.bad(key, e.getValue(), "unknown key; known keys: proxy." + String.join(", proxy.",
                            byName.keySet()) + ", proxy.listener.NAME.KEY");
                }
            }
        }
    }

    private static String listenerKeyNames() {
        List<String> names = new ArrayList<>();
        for (Key k : KEYS) {
            if (k.scope() == Scope.LISTENER) {
                names.add(k.name());
            }
        }
        return String.join(", ", names);
    }

    private ListenerConfig listener(String name, boolean single) {
        String listenKey = listenerKey(name, LISTEN, single);
        HostPort listen = HostPort.parse(listenKey, lget(name, LISTEN, single), true);

        String backendsKey = listenerKey(name, BACKENDS, single);
        String backendsText = lget(name, BACKENDS, single);
        String file = lget(name, BACKENDS_FILE, single);
        if (file != null && !file.isBlank()) {
            if (backendsText != null) {
                throw ConfigException.bad(backendsKey, backendsText, "give either " + backendsKey + " or "
                        + listenerKey(name, BACKENDS_FILE, single) + ", not both");
            }
            backendsText = "";
        } else if (backendsText == null || backendsText.isBlank()) {
            throw new ConfigException(backendsKey + (backendsText == null ? " is not set: " : " is empty: ") + BACKENDS_HELP);
        } else {
            file = null;
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

        String balanceText = lget(name, BALANCE, single);
        BalancePolicy balance = BalancePolicy.fromConfigName(balanceText);
        if (balance == null) {
            throw ConfigException.bad(listenerKey(name, BALANCE, single), balanceText,
                    "expected source-ip, source-ip-port, round-robin or least-conn");
        }
        long connectTimeout = Durations.parseNanos(listenerKey(name, CONNECT_TIMEOUT, single), lget(name, CONNECT_TIMEOUT, single));
        long idleTimeout = Durations.parseNanos(listenerKey(name, IDLE_TIMEOUT, single), lget(name, IDLE_TIMEOUT, single));
        int attempts = intValue(listenerKey(name, CONNECT_ATTEMPTS, single), lget(name, CONNECT_ATTEMPTS, single), 1, 64);
        int backlog = intValue(listenerKey(name, BACKLOG, single), lget(name, BACKLOG, single), 1, 1 << 20);
        boolean noDelay = boolValue(listenerKey(name, TCP_NODELAY, single), lget(name, TCP_NODELAY, single));
        int rcv = sizeValue(listenerKey(name, SOCKET_RCVBUF, single), lget(name, SOCKET_RCVBUF, single));
        int snd = sizeValue(listenerKey(name, SOCKET_SNDBUF, single), lget(name, SOCKET_SNDBUF, single));
        HealthConfig health = new HealthConfig(
                dur(name, HEALTH_INTERVAL, single), dur(name, HEALTH_TIMEOUT, single),
                intValue(listenerKey(name, HEALTH_RISE, single), lget(name, HEALTH_RISE, single), 1, 1000),
                intValue(listenerKey(name, HEALTH_FALL, single), lget(name, HEALTH_FALL, single), 1, 1000),
                unescape(lget(name, HEALTH_SEND, single)), unescape(lget(name, HEALTH_EXPECT, single)),
                dur(name, HEALTH_HOLDDOWN, single),
                boolValue(listenerKey(name, HEALTH_PASSIVE, single), lget(name, HEALTH_PASSIVE, single)),
                onDown(listenerKey(name, HEALTH_ON_DOWN, single), lget(name, HEALTH_ON_DOWN, single)),
                dur(name, HEALTH_CLOSE_GRACE, single));
        if (health.intervalNanos() > 0 && health.timeoutNanos() == 0) {
            throw ConfigException.bad(listenerKey(name, HEALTH_TIMEOUT, single), "0", "an active check needs a timeout");
        }
        long affinityTtl = dur(name, AFFINITY_TTL, single);
        int affinityMax = intValue(listenerKey(name, AFFINITY_MAX, single), lget(name, AFFINITY_MAX, single), 1, 1 << 26);
        String sendText = lget(name, PROXY_SEND, single).trim().toLowerCase(Locale.ROOT);
        int send = switch (sendText) {
            case "off", "0", "" -> 0;
            case "v1", "1" -> 1;
            case "v2", "2" -> 2;
            default -> throw ConfigException.bad(listenerKey(name, PROXY_SEND, single), sendText, "expected off, v1 or v2");
        };
        List<Cidr> trusted = new ArrayList<>();
        String trustedText = lget(name, PROXY_TRUSTED, single);
        for (String part : trustedText.split(",")) {
            if (!part.isBlank()) {
                trusted.add(Cidr.parse(listenerKey(name, PROXY_TRUSTED, single), part));
            }
        }
        Protection protection = new Protection(send, trusted, dur(name, PROXY_TIMEOUT, single),
                intValue(listenerKey(name, MAXCONN, single), lget(name, MAXCONN, single), 0, Integer.MAX_VALUE),
                intValue(listenerKey(name, BACKEND_MAXCONN, single), lget(name, BACKEND_MAXCONN, single), 0, Integer.MAX_VALUE),
                intValue(listenerKey(name, CLIENT_MAXCONN, single), lget(name, CLIENT_MAXCONN, single), 0, Integer.MAX_VALUE),
                intValue(listenerKey(name, CLIENT_RATE, single), lget(name, CLIENT_RATE, single), 0, CLIENT_RATE_MAX),
                dur(name, HALFCLOSED_TIMEOUT, single), dur(name, MAX_AGE, single),
                keepAlive(name, single),
                intValue(listenerKey(name, KEEPALIVE_IDLE, single), lget(name, KEEPALIVE_IDLE, single), 0, 32767),
                intValue(listenerKey(name, KEEPALIVE_INTERVAL, single), lget(name, KEEPALIVE_INTERVAL, single), 0, 32767),
                intValue(listenerKey(name, KEEPALIVE_COUNT, single), lget(name, KEEPALIVE_COUNT, single), 0, 127));
        if (!trusted.isEmpty() && protection.proxyHeaderTimeoutNanos() == 0) {
            throw ConfigException.bad(listenerKey(name, PROXY_TIMEOUT, single), "0",
                    "a PROXY header needs a deadline, or a silent client holds its socket forever");
        }
        return new ListenerConfig(name, listen, backends, balance, connectTimeout, idleTimeout, attempts, backlog,
                noDelay, rcv, snd, health, affinityTtl, affinityMax, file, dur(name, DNS_REFRESH, single),
                dur(name, DRAIN_TIMEOUT, single), protection);
    }

    /**
     * Off by default, as in HAProxy ({@code option tcpka}) and nginx ({@code so_keepalive}): with the kernel's
     * timing (two hours idle) it finds nothing in time and costs two setsockopt calls per session. Giving any of the
     * timings turns it on, since that is what they are for.
     */
    private boolean keepAlive(String name, boolean single) {
        String explicit = values.containsKey(listenerKey(name, KEEPALIVE, single)) ? lget(name, KEEPALIVE, single) : null;
        if (explicit != null) {
            return boolValue(listenerKey(name, KEEPALIVE, single), explicit);
        }
        for (Key k : List.of(KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)) {
            String v = lget(name, k, single);
            if (v != null && !v.trim().equals("0")) {
                return true;
            }
        }
        return false;
    }

    private long dur(String name, Key key, boolean single) {
        return Durations.parseNanos(listenerKey(name, key, single), lget(name, key, single));
    }

    private static boolean onDown(String key, String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "keep" -> false;
            case "close" -> true;
            default -> throw ConfigException.bad(key, text, "expected keep or close");
        };
    }

    /** {@code \r}, {@code \n}, {@code \t} and {@code \\} in a check's send/expect text; null stays null. */
    static String unescape(String text) {
        if (text == null || text.isEmpty()) {
            return null;
        }
        return text.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\");
    }

    /** The key a listener's value came from: its own {@code proxy.listener.NAME.KEY} if set, else the default. */
    private String listenerKey(String name, Key key, boolean single) {
        String own = LISTENER_PREFIX + name + "." + key.name();
        return !single && values.containsKey(own) ? own : key.property();
    }

    private String lget(String name, Key key, boolean single) {
        if (!single) {
            String own = values.get(LISTENER_PREFIX + name + "." + key.name());
            if (own != null) {
                return own;
            }
        }
        return values.getOrDefault(key.property(), key.defaultValue());
    }

    private String get(Key key) {
        return values.getOrDefault(key.property(), key.defaultValue());
    }

    private static int intValue(String key, String text, int min, int max) {
        try {
            int v = Integer.parseInt(text.trim());
            if (v >= min && v <= max) {
                return v;
            }
        } catch (NumberFormatException e) {
            // fall through to the one error message
        }
        throw ConfigException.bad(key, text, "expected a whole number from " + min + " to " + max);
    }

    private static boolean boolValue(String key, String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "true", "on", "yes" -> true;
            case "false", "off", "no" -> false;
            default -> throw ConfigException.bad(key, text, "expected true or false");
        };
    }

    private static int sizeValue(String key, String text) {
        long v = Durations.parseBytes(key, text);
        if (v > Integer.MAX_VALUE) {
            throw ConfigException.bad(key, text, "expected a size below 2g");
        }
        return (int) v;
    }

    /** The effective settings, one line per listener, for the start-up log. */
    public static String describe(ProxyConfig c) {
        StringBuilder sb = new StringBuilder();
        sb.append("workers=").append(c.workers())
                .append(" buffer.size=").append(c.bufferBytes())
                .append(" buffer.pool.max=").append(c.poolBytesPerLoop())
                .append(" buffer.bulk.size=").append(c.bulkBufferBytes())
                .append(" accept=").append(c.acceptMode().name().toLowerCase(Locale.ROOT))
                .append(" io=").append(c.io().name().toLowerCase(Locale.ROOT))
                .append(" admin=").append(c.admin() == null ? "off" : c.admin())
                .append(" shutdown.timeout=").append(Durations.format(c.shutdownTimeoutNanos()))
                .append(" shutdown.pace=").append(Durations.format(c.shutdownPaceNanos()))
                .append(" access.log=").append(c.accessLog() == null ? "off" : c.accessLog())
                .append(" background.nice=").append(c.backgroundNice());
        for (ListenerConfig l : c.listeners()) {
            sb.append(System.lineSeparator()).append("  listener ").append(l.name())
                    .append(": listen=").append(l.listen())
                    .append(" backends=").append(l.backends())
                    .append(" balance=").append(l.balance().configName())
                    .append(" connect.timeout=").append(Durations.format(l.connectTimeoutNanos()))
                    .append(" connect.attempts=").append(l.connectAttempts())
                    .append(" idle.timeout=").append(Durations.format(l.idleTimeoutNanos()))
                    .append(" backlog=").append(l.backlog())
                    .append(" tcp.nodelay=").append(l.tcpNoDelay())
                    .append(" socket.rcvbuf=").append(l.socketRcvBufBytes())
                    .append(" socket.sndbuf=").append(l.socketSndBufBytes())
                    .append(" affinity.ttl=").append(Durations.format(l.affinityTtlNanos()))
                    .append(" health.interval=").append(Durations.format(l.health().intervalNanos()))
                    .append(" health.passive=").append(l.health().passive());
            if (l.backendsFile() != null) {
                sb.append(" backends.file=").append(l.backendsFile());
            }
            if (l.dnsRefreshNanos() > 0) {
                sb.append(" dns.refresh=").append(Durations.format(l.dnsRefreshNanos()));
            }
        }
        return sb.toString();
    }
}
