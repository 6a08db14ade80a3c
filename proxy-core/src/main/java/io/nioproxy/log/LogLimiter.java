package io.nioproxy.log;

/**
 * Lets through one log line per interval and counts the rest, so that a fault that repeats per connection (out of
 * descriptors, a backend refusing) is logged once a second with a count instead of flooding the log.
 *
 * <p>Threading: one owner thread (each loop has its own limiters); not thread-safe.
 */
public final class LogLimiter {
    private final long intervalNanos;
    private long nextNanos = Long.MIN_VALUE;
    private long suppressed;

    public LogLimiter(long intervalNanos) {
        this.intervalNanos = intervalNanos;
    }

    /** @return true when a line may be written now; then {@link #suppressed()} tells how many were skipped. */
    public boolean allow(long nowNanos) {
        if (nextNanos != Long.MIN_VALUE && nowNanos - nextNanos < 0) {
            suppressed++;
            return false;
        }
        nextNanos = nowNanos + intervalNanos;
        return true;
    }

    /** Lines suppressed since the last allowed one; resets the count. */
    public long suppressed() {
        long s = suppressed;
        suppressed = 0;
        return s;
    }
}
