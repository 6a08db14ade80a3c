package io.nioproxy.config;

import java.util.concurrent.TimeUnit;

/** Parses durations written as {@code 250ms}, {@code 5s}, {@code 2m}, {@code 1h}, {@code 1d}, or {@code 0}. */
public final class Durations {
    private Durations() {
    }

    /** @return nanoseconds; 0 means "none". */
    public static long parseNanos(String key, String text) {
        String t = text.trim().toLowerCase(java.util.Locale.ROOT);
        if (t.equals("0")) {
            return 0;
        }
        int i = 0;
        while (i < t.length() && Character.isDigit(t.charAt(i))) {
            i++;
        }
        if (i == 0 || i == t.length()) {
            throw ConfigException.bad(key, text, "expected a duration such as 250ms, 5s, 2m, 1h, 1d, or 0 for none");
        }
        long n;
        try {
            n = Long.parseLong(t.substring(0, i));
        } catch (NumberFormatException e) {
            throw ConfigException.bad(key, text, "the number is too large");
        }
        TimeUnit unit = switch (t.substring(i)) {
            case "us" -> TimeUnit.MICROSECONDS;
            case "ms" -> TimeUnit.MILLISECONDS;
            case "s" -> TimeUnit.SECONDS;
            case "m" -> TimeUnit.MINUTES;
            case "h" -> TimeUnit.HOURS;
            case "d" -> TimeUnit.DAYS;
            default -> throw ConfigException.bad(key, text, "unknown unit '" + t.substring(i) + "': use us, ms, s, m, h or d");
        };
        long nanos = unit.toNanos(n);
        if (nanos == Long.MAX_VALUE) {
            throw ConfigException.bad(key, text, "the duration is too large");
        }
        return nanos;
    }

    /** Formats nanoseconds back the way an operator would write them (for the start-up log). */
    public static String format(long nanos) {
        if (nanos == 0) {
            return "0";
        }
        if (nanos % TimeUnit.HOURS.toNanos(1) == 0) {
            return nanos / TimeUnit.HOURS.toNanos(1) + "h";
        }
        if (nanos % TimeUnit.MINUTES.toNanos(1) == 0) {
            return nanos / TimeUnit.MINUTES.toNanos(1) + "m";
        }
        if (nanos % TimeUnit.SECONDS.toNanos(1) == 0) {
            return nanos / TimeUnit.SECONDS.toNanos(1) + "s";
        }
        if (nanos % TimeUnit.MILLISECONDS.toNanos(1) == 0) {
            return nanos / TimeUnit.MILLISECONDS.toNanos(1) + "ms";
        }
        return nanos / 1000 + "us";
    }

    /** Parses a byte size: {@code 16384}, {@code 16k}, {@code 4m}, {@code 1g}. */
    public static long parseBytes(String key, String text) {
        String t = text.trim().toLowerCase(java.util.Locale.ROOT);
        long mul = 1;
        if (t.endsWith("k")) {
            mul = 1024;
        } else if (t.endsWith("m")) {
            mul = 1024 * 1024;
        } else if (t.endsWith("g")) {
            mul = 1024L * 1024 * 1024;
        }
        if (mul != 1) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            long v = Long.parseLong(t);
            if (v < 0) {
                throw ConfigException.bad(key, text, "expected a non-negative size such as 16384, 16k, 4m");
            }
            return Math.multiplyExact(v, mul);
        } catch (NumberFormatException | ArithmeticException e) {
            throw ConfigException.bad(key, text, "expected a size such as 16384, 16k, 4m or 1g");
        }
    }
}
