package io.nioproxy.log;

import java.io.PrintStream;
import java.time.Instant;

/**
 * The balancer's operational log: one line per event, to standard error, with an ISO-8601 UTC time and a level.
 *
 * <p>Threading: any thread. A line is one {@code PrintStream.println}, which is synchronised, so lines never
 * interleave. Event loops log only rare events (start, stop, a failure), and through a {@link LogLimiter} where an
 * event could repeat per connection, so the log never becomes the hot path.
 */
public final class Log {
    private static volatile PrintStream out = System.err;

    private Log() {
    }

    /** Where lines go from now on: standard error unless an embedding application (or a test) says otherwise. */
    public static void output(PrintStream stream) {
        out = stream;
    }

    public static void info(String message) {
        line("INFO", message);
    }

    public static void warn(String message) {
        line("WARN", message);
    }

    public static void error(String message, Throwable t) {
        line("ERROR", message + (t == null ? "" : ": " + t));
        if (t != null && !(t instanceof java.io.IOException)) {
            t.printStackTrace(out);
        }
    }

    private static void line(String level, String message) {
        out.println(Instant.now() + " " + level + " [" + Thread.currentThread().getName() + "] " + message);
    }
}
