package io.nioproxy.loop;

/**
 * Every deadline of one loop: a hashed timing wheel (Varghese and Lauck; Agrona's {@code DeadlineTimerWheel} and
 * Netty's {@code HashedWheelTimer} are the models) of {@link #SLOTS} slots of about a millisecond each, whose
 * entries are the {@link LoopTimer}s themselves, linked into their slot's list. Schedule, move and cancel are O(1)
 * and allocate nothing; a poll visits the slots of the ticks that passed since the last one. A deadline beyond one
 * turn of the wheel stays in its slot and is passed over until its own turn comes.
 *
 * <p>Timing: a timer fires at the first poll at or after its deadline, never before. The loop polls after every
 * select and bounds its select by {@link #nextDeadlineNanos}, so a timer fires within about a tick of its deadline
 * on an idle loop.
 *
 * <p>Threading: the loop thread only.
 */
public final class TimerWheel {
    /** 2^20 ns ≈ 1.05 ms per tick: fine enough for timeouts given in milliseconds or more. */
    static final int TICK_SHIFT = 20;
    /** Slots: one turn of the wheel is about 1.07 s, just over the loop's longest select. */
    static final int SLOTS = 1024;
    private static final int MASK = SLOTS - 1;
    /** {@link LoopTimer#slot} of a timer found due and about to fire (cancelling or re-scheduling it undoes that). */
    static final int FIRING = -2;

    private final LoopTimer[] heads = new LoopTimer[SLOTS];
    /** The tick of the last poll: every slot before it has been visited for this turn of the wheel. */
    private long currentTick;
    private int count;
    /** A lower bound on the earliest deadline (cancellations may leave it early); recomputed once it passes. */
    private long earliest = Long.MAX_VALUE;

    public TimerWheel(long nowNanos) {
        this.currentTick = nowNanos >> TICK_SHIFT;
    }

    /** Schedules {@code timer} at {@code deadlineNanos}, moving it if it was already scheduled. */
    public void schedule(LoopTimer timer, long deadlineNanos) {
        if (timer.scheduled()) {
            unlink(timer);
        }
        long tick = Math.max(deadlineNanos >> TICK_SHIFT, currentTick);
        int slot = (int) (tick & MASK);
        timer.deadlineNanos = deadlineNanos;
        timer.slot = slot;
        timer.prev = null;
        timer.next = heads[slot];
        if (timer.next != null) {
            timer.next.prev = timer;
        }
        heads[slot] = timer;
        if (count++ == 0 || deadlineNanos - earliest < 0) {
            earliest = deadlineNanos;
        }
    }

    /** Cancels {@code timer} if it is scheduled (or found due and not yet fired). */
    public void cancel(LoopTimer timer) {
        if (timer.scheduled()) {
            unlink(timer);
        } else if (timer.slot == FIRING) {
            timer.slot = -1;
        }
    }

    private void unlink(LoopTimer t) {
        if (t.prev != null) {
            t.prev.next = t.next;
        } else {
            heads[t.slot] = t.next;
        }
        if (t.next != null) {
            t.next.prev = t.prev;
        }
        t.prev = null;
        t.next = null;
        t.slot = -1;
        t.deadlineNanos = LoopTimer.UNSCHEDULED;
        count--;
    }

    /** Timers scheduled now. */
    public int size() {
        return count;
    }

    /**
     * Fires every timer whose deadline is at or before {@code nowNanos}. Timers that a firing one schedules at or
     * before {@code nowNanos} fire at the next poll, not in this one (no poll can run for ever).
     *
     * @return the timers fired
     */
    public int poll(long nowNanos) {
        if (count == 0) {
            currentTick = nowNanos >> TICK_SHIFT;
            return 0;
        }
        long nowTick = nowNanos >> TICK_SHIFT;
        long ticks = Math.min(nowTick - currentTick, SLOTS - 1);
        LoopTimer due = null;
        for (long tick = currentTick; tick <= currentTick + ticks; tick++) {
            LoopTimer t = heads[(int) (tick & MASK)];
            while (t != null) {
                LoopTimer next = t.next;
                if (t.deadlineNanos - nowNanos <= 0) {
                    unlink(t);
                    t.slot = FIRING;
                    t.nextDue = due;
                    due = t;
                }
                t = next;
            }
        }
        currentTick = nowTick;
        int fired = 0;
        while (due != null) {
            LoopTimer t = due;
            due = t.nextDue;
            t.nextDue = null;
            if (t.slot != FIRING) {
                continue; // cancelled or re-scheduled by a timer that fired before it in this poll
            }
            t.slot = -1;
            fired++;
            t.onDeadline(nowNanos);
        }
        if (earliest - nowNanos <= 0) {
            earliest = findEarliest();
        }
        return fired;
    }

    /** The earliest deadline (or a lower bound on it, never later), {@link Long#MAX_VALUE} when none is scheduled. */
    public long nextDeadlineNanos() {
        return count == 0 ? Long.MAX_VALUE : earliest;
    }

    /**
     * Scans forward from the current tick for the first slot holding a deadline of this turn of the wheel; past a
     * whole turn, the start of the next turn is a lower bound of what remains.
     */
    private long findEarliest() {
        if (count == 0) {
            return Long.MAX_VALUE;
        }
        for (long tick = currentTick; tick < currentTick + SLOTS; tick++) {
            long min = Long.MAX_VALUE;
            for (LoopTimer t = heads[(int) (tick & MASK)]; t != null; t = t.next) {
                if (t.deadlineNanos >> TICK_SHIFT <= tick && t.deadlineNanos < min) {
                    min = t.deadlineNanos;
                }
            }
            if (min != Long.MAX_VALUE) {
                return min;
            }
        }
        return (currentTick + SLOTS) << TICK_SHIFT;
    }
}
