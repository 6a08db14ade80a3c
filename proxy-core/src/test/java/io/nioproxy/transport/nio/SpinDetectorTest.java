package io.nioproxy.transport.nio;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpinDetectorTest {
    @Test
    void firesAfterThresholdPrematureReturnsInARow() {
        SpinDetector d = new SpinDetector(4);
        assertFalse(d.prematureReturn(1_000, 1_000_000));
        assertFalse(d.prematureReturn(1_000, 1_000_000));
        assertFalse(d.prematureReturn(1_000, 1_000_000));
        assertTrue(d.prematureReturn(1_000, 1_000_000), "fourth early return in a row");
        assertEquals(0, d.count(), "count restarts after firing");
    }

    @Test
    void aFullWaitOrRealWorkResetsTheCount() {
        SpinDetector d = new SpinDetector(3);
        d.prematureReturn(1, 1000);
        d.prematureReturn(1, 1000);
        assertFalse(d.prematureReturn(900, 1000), "a select that waited most of its timeout is not a spin");
        assertEquals(0, d.count());
        d.prematureReturn(1, 1000);
        d.reset();
        assertFalse(d.prematureReturn(1, 1000));
        assertFalse(d.prematureReturn(1, 1000));
        assertTrue(d.prematureReturn(1, 1000));
    }
}
