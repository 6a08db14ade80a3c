package io.nioproxy.loop;

/**
 * A per-loop component that the loop drives after every select: the session table (timeouts, buffer waiters) is
 * one. Lets the generic loop stay ignorant of what it carries.
 *
 * <p>Threading: every method on the loop thread.
 */
public interface LoopService {
    /** After each select turn, with the turn's cached time. */
    void afterSelect(long nowNanos);

    /** @return the earliest time this service needs {@link #afterSelect}, or {@link Long#MAX_VALUE}. */
    long nextDeadlineNanos();

    /** The loop is stopping: close everything this service owns. */
    void shutdown();
}
