package io.nioproxy.loop;

/**
 * Something on a loop that needs a call at a deadline: a session's connect or idle timeout, an acceptor re-arming
 * after running out of descriptors. An intrusive node of its loop's {@link TimerWheel}: scheduling, moving and
 * cancelling it allocate nothing and cost O(1), however many thousands of sessions are waiting.
 *
 * <p>Threading: loop thread only.
 */
public abstract class LoopTimer {
    static final long UNSCHEDULED = Long.MIN_VALUE;

    long deadlineNanos = UNSCHEDULED;
    LoopTimer prev;
    LoopTimer next;
    /** The wheel slot; {@link TimerWheel#FIRING} while due in the poll under way, -1 otherwise. */
    int slot = -1;
    /** The chain of timers due in the poll under way. */
    LoopTimer nextDue;

    /** Whether the timer is waiting for its deadline. */
    public final boolean scheduled() {
        return deadlineNanos != UNSCHEDULED;
    }

    /** @return the deadline in {@link System#nanoTime} terms; meaningful only while {@link #scheduled()} */
    public final long deadlineNanos() {
        return deadlineNanos;
    }

    /** The deadline passed. The timer is no longer scheduled when this runs: schedule it again to run again. */
    protected abstract void onDeadline(long nowNanos);
}
