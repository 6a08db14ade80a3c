package io.nioproxy.relay;

import java.util.List;
import java.util.function.Predicate;

/**
 * The live sessions of every loop, as something off the loops may look at and end them: what the rebalancer needs,
 * and the part of the admin view that deals in sessions. It lives beside {@link Session} so that a package above the
 * relay (the rebalancer) can ask without depending on the view that also hands it out.
 *
 * <p>Threading: any thread but a loop's (a snapshot waits for every loop to answer).
 */
public interface LiveSessions {
    /**
     * Every loop's snapshot, taken on the loop itself.
     *
     * @param withSessions include a row per live session (selected by {@code filter}, null = all)
     */
    List<LoopSnapshot> snapshot(boolean withSessions, Predicate<Session> filter);

    /** Closes the sessions {@code filter} selects, on every loop; returns how many. */
    int closeSessions(Predicate<Session> filter);

    /** {@link #closeSessions(Predicate)} with the reason they are counted and logged under. */
    int closeSessions(Predicate<Session> filter, Session.CloseReason reason);
}
