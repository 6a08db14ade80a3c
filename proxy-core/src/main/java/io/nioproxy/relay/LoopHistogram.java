package io.nioproxy.relay;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.SingleWriterRecorder;

import java.nio.ByteBuffer;
import java.util.Base64;

/**
 * One latency distribution that every loop records into and the metrics read as a running total: a single-writer
 * HdrHistogram recorder per loop (no lock and no allocation on the loop: a fixed range at two significant digits,
 * values clamped into it), whose interval histograms the reader swaps out and adds to the total (HdrHistogram's
 * writer–reader phaser: the recording loop never waits). The total travels in a take-over ({@link #export},
 * {@link #importFrom}), so a summary's count and quantiles go on across it.
 *
 * <p>Threading: {@link #record} on loop {@code loop} only, for its own recorder; the rest on any thread, one at a time
 * (synchronized: the metrics scrape and a take-over may ask at once).
 */
public final class LoopHistogram {
    private final long max;
    private final SingleWriterRecorder[] recorders;
    private final Histogram[] recycled;
    private final Histogram total;

    LoopHistogram(int loops, long max) {
        this.max = max;
        recorders = new SingleWriterRecorder[loops];
        recycled = new Histogram[loops];
        for (int i = 0; i < loops; i++) {
            recorders[i] = new SingleWriterRecorder(1, max, 2);
        }
        total = new Histogram(1, max, 2);
    }

    /** Loop {@code loop}: one value (clamped to 1..max). */
    void record(int loop, long value) {
        recorders[loop].recordValue(Math.max(1, Math.min(max, value)));
    }

    /** Everything recorded so far (and carried from the previous process), as a copy the caller owns. */
    public synchronized Histogram snapshot() {
        drain();
        return total.copy();
    }

    /** The running total, compressed and in Base64: one word of a take-over's counters message. */
    public synchronized String export() {
        drain();
        ByteBuffer buf = ByteBuffer.allocate(total.getNeededByteBufferCapacity());
        int n = total.encodeIntoCompressedByteBuffer(buf);
        return Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(buf.array(), n));
    }

    /**
     * Adds the total another process exported. A word that does not decode is refused with the reason, and nothing is
     * added.
     */
    public synchronized void importFrom(String word) {
        Histogram h;
        try {
            h = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(word)), max);
        } catch (java.util.zip.DataFormatException | RuntimeException e) {
            throw new IllegalArgumentException("not an exported histogram: " + e.getMessage(), e);
        }
        if (h.getMaxValue() > total.highestEquivalentValue(max)) { // both report a value as its bucket's top
            throw new IllegalArgumentException("values up to " + h.getMaxValue() + ", beyond this one's " + max);
        }
        total.add(h);
    }

    private void drain() {
        for (int i = 0; i < recorders.length; i++) {
            Histogram interval = recorders[i].getIntervalHistogram(recycled[i]);
            total.add(interval);
            recycled[i] = interval;
        }
    }
}
