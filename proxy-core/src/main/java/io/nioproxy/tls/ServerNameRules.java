package io.nioproxy.tls;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Which target a server name goes to: exact names, and {@code *.domain} wildcards that match any name ending in
 * {@code .domain} at any depth ({@code a.domain}, {@code a.b.domain}) but not {@code domain} itself. An exact name
 * wins over a wildcard, and a longer wildcard over a shorter one — as nginx's {@code server_name} and Envoy's
 * {@code server_names} choose.
 *
 * <p>Threading: immutable once built; any thread.
 *
 * @param <T> what a name routes to
 */
public final class ServerNameRules<T> {
    private final Map<String, T> exact;
    /** Wildcards by their suffix with its leading dot: {@code *.example.com} is {@code .example.com}. */
    private final Map<String, T> suffixes;
    private final Map<String, T> patterns;

    private ServerNameRules(Map<String, T> exact, Map<String, T> suffixes, Map<String, T> patterns) {
        this.exact = exact;
        this.suffixes = suffixes;
        this.patterns = patterns;
    }

    /**
     * Parses {@code PATTERN=TARGET[,PATTERN=TARGET...]} (names case-insensitive; {@code *.} only as a whole first
     * label).
     *
     * @throws IllegalArgumentException with what is wrong, for a start-up error
     */
    public static ServerNameRules<String> parse(String text) {
        Map<String, String> patterns = new LinkedHashMap<>();
        for (String part : text.split(",")) {
            if (part.isBlank()) {
                throw new IllegalArgumentException("an empty entry between commas");
            }
            int eq = part.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("'" + part.trim() + "' is not NAME=POOL");
            }
            String pattern = part.substring(0, eq).trim().toLowerCase(Locale.ROOT);
            String target = part.substring(eq + 1).trim();
            checkPattern(pattern);
            if (target.isEmpty()) {
                throw new IllegalArgumentException("'" + part.trim() + "' names no pool");
            }
            if (patterns.put(pattern, target) != null) {
                throw new IllegalArgumentException("'" + pattern + "' is routed twice");
            }
        }
        return of(patterns);
    }

    private static void checkPattern(String pattern) {
        String name = pattern.startsWith("*.") ? pattern.substring(2) : pattern;
        if (name.isEmpty() || name.length() > ClientHelloParser.MAX_NAME || name.startsWith(".") || name.endsWith(".")
                || name.contains("..") || !name.matches("[a-z0-9_.-]+")) {
            throw new IllegalArgumentException("'" + pattern + "' is not a host name or *.domain wildcard");
        }
    }

    private static <T> ServerNameRules<T> of(Map<String, T> patterns) {
        Map<String, T> exact = new HashMap<>();
        Map<String, T> suffixes = new HashMap<>();
        patterns.forEach((p, t) -> {
            if (p.startsWith("*.")) {
                suffixes.put(p.substring(1), t);
            } else {
                exact.put(p, t);
            }
        });
        return new ServerNameRules<>(exact, suffixes, patterns);
    }

    /** The same rules with every target mapped (pool names to pools, at start-up). */
    public <U> ServerNameRules<U> map(Function<T, U> f) {
        Map<String, U> mapped = new LinkedHashMap<>();
        patterns.forEach((p, t) -> mapped.put(p, f.apply(t)));
        return of(mapped);
    }

    /** The rules as given, pattern to target, in order. */
    public Map<String, T> patterns() {
        return java.util.Collections.unmodifiableMap(patterns);
    }

    /**
     * The target of {@code name} (lower case, as {@link ClientHelloParser#serverName()} gives it), or null when no
     * rule matches.
     */
    public T match(String name) {
        T t = exact.get(name);
        if (t != null || suffixes.isEmpty()) {
            return t;
        }
        // longest suffix first: from the first dot rightwards
        for (int dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
            t = suffixes.get(name.substring(dot));
            if (t != null) {
                return t;
            }
        }
        return null;
    }
}
