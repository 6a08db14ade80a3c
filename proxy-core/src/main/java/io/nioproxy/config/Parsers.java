package io.nioproxy.config;

import java.util.Locale;
import java.util.Map;

/**
 * The parsers a {@link Settings.Key} carries: each turns a property's text into its value or fails with a
 * {@link ConfigException} that names the property, the text and what was expected.
 *
 * <p>Stateless; any thread.
 */
public final class Parsers {
    private Parsers() {
    }

    /** Turns one property's text into its value. */
    @FunctionalInterface
    public interface Parser<T> {
        /** @throws ConfigException naming {@code property} and {@code text} when the text is not a valid value */
        T parse(String property, String text);
    }

    public static Parser<Integer> integer(int min, int max) {
        return (key, text) -> {
            try {
                int v = Integer.parseInt(text.trim());
                if (v >= min && v <= max) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // fall through to the one error message
            }
            throw ConfigException.bad(key, text, "expected a whole number from " + min + " to " + max);
        };
    }

    public static Parser<Boolean> bool() {
        return (key, text) -> switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "true", "on", "yes" -> true;
            case "false", "off", "no" -> false;
            default -> throw ConfigException.bad(key, text, "expected true or false");
        };
    }

    /** Nanoseconds, from {@code 250ms}, {@code 5s}, {@code 2m}, {@code 1h}, {@code 1d} or {@code 0}. */
    public static Parser<Long> duration() {
        return Durations::parseNanos;
    }

    /** Bytes, from {@code 64k}, {@code 1m} or a plain number, within {@code [min, max]}. */
    public static Parser<Long> bytes(long min, long max, String expected) {
        return (key, text) -> {
            long v = Durations.parseBytes(key, text);
            if (v < min || v > max) {
                throw ConfigException.bad(key, text, expected);
            }
            return v;
        };
    }

    /** The text itself (trimmed). */
    /** A decimal number from {@code min} to {@code max}. */
    public static Parser<Double> decimal(double min, double max) {
        return (key, text) -> {
            try {
                double v = Double.parseDouble(text.trim());
                if (v >= min && v <= max) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // the message below
            }
            throw ConfigException.bad(key, text, "expected a number from " + min + " to " + max);
        };
    }

    public static Parser<String> text() {
        return (key, text) -> text.trim();
    }

    /** One of a fixed set of words (any case); {@code expected} lists them for the error. */
    public static <T> Parser<T> choice(String expected, Map<String, T> words) {
        return (key, text) -> {
            T v = words.get(text.trim().toLowerCase(Locale.ROOT));
            if (v == null) {
                throw ConfigException.bad(key, text, "expected " + expected);
            }
            return v;
        };
    }
}
