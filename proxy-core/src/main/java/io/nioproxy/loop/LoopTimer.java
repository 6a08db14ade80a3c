package io.nioproxy.loop;

/**
 * Something on a loop that needs a call at a deadline (a connect timeout, an acceptor re-arming after running out
 * of descriptors). The loop scans its few registered timers after each select; sessions' idle timeouts use a
 * separate coarse sweep because there can be many thousands of them.
 *
 * <p>Threading: loop thread only.
 */
public interface LoopTimer {
    /** @return the deadline in {@link System#nanoTime} terms, or {@link Long#MAX_VALUE} for none. */
    long deadlineNanos();

    /** The deadline passed. The timer is removed before the call; re-add it to run again. */
    void onDeadline(long nowNanos);
}
