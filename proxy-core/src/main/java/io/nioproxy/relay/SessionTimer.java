package io.nioproxy.relay;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.LoopTimer;

/**
 * Every deadline of one session, as one entry of its loop's timer wheel at the earliest of them: the current
 * phase's (a connect attempt, a PROXY header, an untrusted client's undecided first bytes), the idle,
 * half-closed and maximum-age timeouts, the next interim access-log line, and a paced shutdown's close.
 *
 * <p>Activity does not move the entry (no wheel operation per byte): when it fires, the timeouts are checked against
 * the session's last activity, and the entry is put back at the next deadline that is still ahead.
 *
 * <p>Threading: the session's loop thread only.
 */
final class SessionTimer extends LoopTimer {
    private final Session session;
    private final EventLoop loop;
    private final long idleNanos;
    private final long halfClosedNanos;
    private final long maxAgeNanos;
    private final long interimNanos;
    /** The current phase's deadline; {@link Long#MAX_VALUE} for none. */
    private long phaseDeadlineNanos = Long.MAX_VALUE;
    /** A paced shutdown's moment for this session; {@link Long#MAX_VALUE} before one began. */
    private long closeAtNanos = Long.MAX_VALUE;
    private long lastInterimNanos;

    SessionTimer(Session session, EventLoop loop, long interimNanos) {
        this.session = session;
        this.loop = loop;
        ListenerConfig c = session.front.config(); // the accepting listener's timeouts, wherever it was routed
        this.idleNanos = c.idleTimeoutNanos();
        this.halfClosedNanos = c.protection().halfClosedTimeoutNanos();
        this.maxAgeNanos = c.protection().maxAgeNanos();
        this.interimNanos = interimNanos;
        this.lastInterimNanos = session.startNanos;
    }

    /** Sets the current phase's deadline ({@link Long#MAX_VALUE}: the phase has none, or ended). */
    void phase(long deadlineNanos) {
        phaseDeadlineNanos = deadlineNanos;
        arm();
    }

    /** Closes the session at {@code atNanos} (paced shutdown). */
    void closeAt(long atNanos) {
        closeAtNanos = atNanos;
        arm();
    }

    /** The session's state changed (relaying began, a direction ended): put the entry at the earliest deadline. */
    void arm() {
        long next = session.closed() ? Long.MAX_VALUE : next();
        if (next == Long.MAX_VALUE) {
            loop.cancel(this);
        } else if (!scheduled() || deadlineNanos() != next) {
            loop.schedule(this, next);
        }
    }

    /** The session closed. */
    void cancel() {
        loop.cancel(this);
    }

    private long next() {
        long d = Math.min(phaseDeadlineNanos, closeAtNanos);
        if (maxAgeNanos > 0) {
            d = Math.min(d, session.startNanos + maxAgeNanos);
        }
        if (session.relaying()) {
            long active = session.lastActiveNanos;
            if (idleNanos > 0) {
                d = Math.min(d, active + idleNanos);
            }
            if (halfClosedNanos > 0 && session.halfClosed()) {
                d = Math.min(d, active + halfClosedNanos);
            }
            if (interimNanos > 0) {
                d = Math.min(d, lastInterimNanos + interimNanos);
            }
        }
        return d;
    }

    @Override
    protected void onDeadline(long nowNanos) {
        if (nowNanos - phaseDeadlineNanos >= 0) {
            phaseDeadlineNanos = Long.MAX_VALUE;
            session.phaseTimedOut();
        }
        if (session.closed()) {
            return;
        }
        if (nowNanos - closeAtNanos >= 0) {
            session.close(Session.CloseReason.SHUTDOWN);
            return;
        }
        if (session.relaying()) {
            long idle = nowNanos - session.lastActiveNanos;
            if (idleNanos > 0 && idle >= idleNanos) {
                session.close(Session.CloseReason.IDLE_TIMEOUT);
                return;
            }
            if (halfClosedNanos > 0 && session.halfClosed() && idle >= halfClosedNanos) {
                session.close(Session.CloseReason.HALF_CLOSED_TIMEOUT);
                return;
            }
        }
        if (maxAgeNanos > 0 && nowNanos - session.startNanos >= maxAgeNanos) {
            session.close(Session.CloseReason.MAX_AGE);
            return;
        }
        if (interimNanos > 0 && session.relaying() && nowNanos - lastInterimNanos >= interimNanos) {
            lastInterimNanos = nowNanos;
            session.interimLine(nowNanos);
        }
        arm();
    }
}
