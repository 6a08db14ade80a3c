package io.nioproxy.relay;

import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A latency histogram recorded by several loops reads as one running total, and travels whole: what one process
 * exports, another adds to its own (count, quantiles, extremes), and a word that is not an export is refused with the
 * reason, adding nothing.
 */
class LoopHistogramTest {
    @Test
    void everyLoopsValuesAddUpAndTheTotalTravels() {
        LoopHistogram old = new LoopHistogram(2, 1_000_000);
        for (int v = 1; v <= 1000; v++) {
            old.record(v % 2, v);
        }
        old.record(0, 5_000_000); // clamped to the range, never refused on the loop
        Histogram seen = old.snapshot();
        assertEquals(1001, seen.getTotalCount());
        assertEquals(1_000_000, seen.getMaxValue(), 1_000_000 / 100.0);

        LoopHistogram next = new LoopHistogram(3, 1_000_000);
        next.record(2, 7);
        next.importFrom(old.export());
        Histogram carried = next.snapshot();
        assertEquals(1002, carried.getTotalCount());
        assertEquals(seen.getValueAtPercentile(50), carried.getValueAtPercentile(50), 10);
        assertEquals(seen.getValueAtPercentile(99), carried.getValueAtPercentile(99), 10);
        assertEquals(1, carried.getMinValue());
        assertEquals(1001, old.snapshot().getTotalCount(), "exporting takes nothing away");
    }

    @Test
    void aWordThatIsNotAnExportIsRefusedAndAddsNothing() {
        LoopHistogram h = new LoopHistogram(1, 1000);
        h.record(0, 10);
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> h.importFrom("not-base64!"));
        assertTrue(bad.getMessage().startsWith("not an exported histogram"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> h.importFrom("AAAA"));
        LoopHistogram wide = new LoopHistogram(1, 1_000_000);
        wide.record(0, 900_000);
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class, () -> h.importFrom(wide.export()));
        assertTrue(range.getMessage().contains("beyond"), range.getMessage());
        assertEquals(1, h.snapshot().getTotalCount(), "nothing added");
    }
}
