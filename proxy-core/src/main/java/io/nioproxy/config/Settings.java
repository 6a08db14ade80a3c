package io.nioproxy.config;

import io.nioproxy.balance.BalancePolicy;

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
    public static final Key ACCEPT = new Key("accept", Scope.GLOBAL, "reuseport",
            "reuseport (a listening socket per loop, SO_REUSEPORT) or acceptor (loop 0 accepts and hands off)");

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

    /** Every known key, in documentation order. */
    public static final List<Key> KEYS = List.of(CONFIG, WORKERS, LISTENERS, BUFFER_SIZE, POOL_BYTES, ACCEPT,
            LISTEN, BACKENDS, BALANCE, CONNECT_TIMEOUT, IDLE_TIMEOUT, CONNECT_ATTEMPTS, BACKLOG, TCP_NODELAY,
            SOCKET_RCVBUF, SOCKET_SNDBUF);

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
        AcceptMode accept = switch (get(ACCEPT).toLowerCase(Locale.ROOT)) {
            case "reuseport" -> AcceptMode.REUSEPORT;
            case "acceptor" -> AcceptMode.ACCEPTOR;
            default -> throw ConfigException.bad(ACCEPT.property(), get(ACCEPT), "expected reuseport or acceptor");
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
        return new ProxyConfig(workers, (int) buffer, pool, accept, listeners);
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
        if (backendsText == null || backendsText.isBlank()) {
            throw new ConfigException(backendsKey + (backendsText == null ? " is not set: " : " is empty: ") + BACKENDS_HELP);
        }
        List<BackendSpec> backends = new ArrayList<>();
        Set<String> ids = new LinkedHashSet<>();
        for (String part : backendsText.split(",")) {
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
        return new ListenerConfig(name, listen, backends, balance, connectTimeout, idleTimeout, attempts, backlog,
                noDelay, rcv, snd);
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
                .append(" accept=").append(c.acceptMode().name().toLowerCase(Locale.ROOT));
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
                    .append(" socket.sndbuf=").append(l.socketSndBufBytes());
        }
        return sb.toString();
    }
}
