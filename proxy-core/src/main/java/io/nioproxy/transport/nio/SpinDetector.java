package io.nioproxy.transport.nio;

/**
 * Counts {@code select} calls in a row that returned with no key ready, no task queued, well before their timeout
 * (the epoll bug where a selector keeps waking with nothing to do, JDK-6670302). Past a threshold the loop rebuilds
 * its selector. A legitimate wake-up (a task, a ready key) resets the count.
 *
 * <p>Threading: loop thread only.
 */
final class SpinDetector {
    private final int threshold;
    private int premature;

    SpinDetector(int threshold) {
        this.threshold = threshold;
    }

    /**
     * @param elapsedNanos how long the select actually blocked
     * @param timeoutNanos how long it was asked to block
     * @return true when the threshold is reached: rebuild now (the count restarts)
     */
    public boolean prematureReturn(long elapsedNanos, long timeoutNanos) {
        if (elapsedNanos >= timeoutNanos / 2) {
            premature = 0;
            return false;
        }
        if (++premature >= threshold) {
            premature = 0;
            return true;
        }
        return false;
    }

    public void reset() {
        premature = 0;
    }

    int count() {
        return premature;
    }
}
