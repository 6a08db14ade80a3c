package io.nioproxy.config;

/**
 * A setting that cannot be used: names the key, the value given, and what was expected, in one line.
 *
 * <p>Thrown only at start-up (or when a configuration is re-read); {@code Main} prints the message and exits
 * non-zero. Never thrown on an event loop.
 */
public final class ConfigException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }

    /** "proxy.x=value: expected ..." — the one shape every configuration error takes. */
    public static ConfigException bad(String key, String value, String expected) {
        return new ConfigException(key + "=" + value + ": " + expected);
    }
}
