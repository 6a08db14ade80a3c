package io.nioproxy.buffer;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BufferPoolTest {
    @Test
    void buffersAreDirectDistinctSlicesOfTheRightSize() {
        BufferPool pool = new BufferPool(1024, 1024 * 100);
        List<ByteBuffer> taken = new ArrayList<>();
        IdentityHashMap<ByteBuffer, Boolean> seen = new IdentityHashMap<>();
        for (int i = 0; i < 100; i++) {
            ByteBuffer b = pool.take();
            assertNotNull(b);
            assertTrue(b.isDirect());
            assertEquals(1024, b.capacity());
            assertEquals(0, b.position());
            assertEquals(1024, b.limit());
            b.put(0, (byte) i);
            seen.put(b, true);
            taken.add(b);
        }
        for (int i = 0; i < 100; i++) {
            assertEquals((byte) i, taken.get(i).get(0), "slices do not overlap");
        }
        assertEquals(100, seen.size());
        assertEquals(100, pool.inUse());
    }

    @Test
    void boundedTakeReturnsNullThenRecovers() {
        BufferPool pool = new BufferPool(1024, 1024 * 3);
        ByteBuffer a = pool.take();
        pool.take();
        pool.take();
        assertNull(pool.take(), "past the bound the pool refuses instead of growing");
        assertEquals(3, pool.allocated());
        a.put((byte) 1).put((byte) 2);
        pool.give(a);
        ByteBuffer again = pool.take();
        assertEquals(a, again);
        assertEquals(0, again.position(), "a returned buffer comes back cleared");
        assertEquals(3, pool.inUse());
    }

    @Test
    void takeAndGiveAllocateNothingAfterWarmUp() {
        BufferPool pool = new BufferPool(4096, 4096 * 64);
        ByteBuffer[] held = new ByteBuffer[64];
        for (int i = 0; i < 64; i++) {
            held[i] = pool.take();
        }
        for (ByteBuffer b : held) {
            pool.give(b);
        }
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();
        for (int round = 0; round < 20_000; round++) { // warm up so the JIT has compiled both methods
            pool.give(pool.take());
        }
        long before = mx.getThreadAllocatedBytes(tid);
        for (int round = 0; round < 100_000; round++) {
            pool.give(pool.take());
        }
        long allocated = mx.getThreadAllocatedBytes(tid) - before;
        assertTrue(allocated < 1024, "allocated " + allocated + " bytes over 100,000 take/give");
    }
}
