package io.nioproxy.relay;

import io.nioproxy.buffer.BufferPool;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * The relay buffers of one loop as its sessions use them: a regular pool, an optional bulk pool for directions that
 * keep filling regular buffers, and the queue of legs that found the regular pool empty and wait for a buffer
 * (reading stays off for them until one is handed over).
 *
 * <p>Threading: the loop thread only.
 */
final class LoopBuffers {
    private final BufferPool regular;
    /** Null when {@code proxy.buffer.bulk.size=0}. */
    private final BufferPool bulk;
    private final ArrayDeque<Leg> waiters = new ArrayDeque<>();

    LoopBuffers(BufferPool regular, BufferPool bulk) {
        this.regular = regular;
        this.bulk = bulk;
    }

    /** A regular buffer, or null when the pool is exhausted. */
    ByteBuffer take() {
        return regular.take();
    }

    /**
     * A buffer for {@code src}'s next reads: a bulk one while the direction keeps filling regular buffers (and one
     * is free), a regular one otherwise; null when the regular pool is exhausted.
     */
    ByteBuffer takeFor(Leg src) {
        if (src.fullReads >= Leg.FULL_READS_FOR_BULK && bulk != null) {
            ByteBuffer b = bulk.take();
            if (b != null) {
                return b;
            }
        }
        return regular.take();
    }

    /** Size of a regular relay buffer. */
    int regularBytes() {
        return regular.bufferBytes();
    }

    /** Returns a buffer to the pool it came from (told apart by size). */
    void give(ByteBuffer buffer) {
        if (bulk != null && buffer.capacity() == bulk.bufferBytes()) {
            bulk.give(buffer);
        } else {
            regular.give(buffer);
        }
    }

    /** {@code leg} found the pool empty: it stops reading until {@link #handOut} gives it a free buffer. */
    void waitFor(Leg leg) {
        if (!leg.waitingForBuffer) {
            leg.waitingForBuffer = true;
            waiters.add(leg);
        }
    }

    /** Whether a waiting leg can be served now: the loop must not block. */
    boolean canHandOut() {
        return !waiters.isEmpty() && regular.inUse() < regular.maxBuffers();
    }

    /** After a poll: lets waiting legs read again, as long as buffers are free. */
    void handOut() {
        while (canHandOut()) {
            Leg leg = waiters.poll();
            leg.session.bufferAvailable(leg);
        }
    }
}
