package io.nioproxy.buffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;

/**
 * A bounded pool of equal direct {@link ByteBuffer}s, cut as slices from larger slabs, owned by one event loop.
 *
 * <p>Why direct and pooled: the JDK copies a heap buffer into a temporary direct one on every socket read and
 * write; a direct buffer goes to the kernel as it is. Why slabs: one {@code allocateDirect} (one native allocation,
 * one {@code Cleaner}) per {@value #BUFFERS_PER_SLAB} buffers instead of per buffer. Slabs are allocated on demand
 * and kept for the life of the loop, so after warm-up take and give allocate nothing.
 *
 * <p>Bound: at most {@code maxBytes} of slabs. When all are in use {@link #take} returns null and the caller waits
 * (the relay stops reading that socket until a buffer comes back): memory stays bounded whatever the peers do.
 *
 * <p>Threading: {@link #take} and {@link #give} only on the owning loop's thread. {@link #inUse()} and
 * {@link #allocated()} may be read from any thread (published with release stores; no fence on the hot path on
 * x86).
 */
public final class BufferPool {
    public static final int BUFFERS_PER_SLAB = 64;
    private static final VarHandle IN_USE;
    private static final VarHandle ALLOCATED;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            IN_USE = l.findVarHandle(BufferPool.class, "inUse", int.class);
            ALLOCATED = l.findVarHandle(BufferPool.class, "allocated", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int bufferBytes;
    private final int maxBuffers;
    private final ByteBuffer[] free;
    private int freeCount;
    @SuppressWarnings("unused") // written through IN_USE
    private int inUse;
    @SuppressWarnings("unused") // written through ALLOCATED
    private int allocated;
    private int inUsePlain;
    private int allocatedPlain;

    /**
     * @param bufferBytes size of each buffer
     * @param maxBytes    most bytes of buffers the pool may ever hold (rounded down to whole buffers, at least one
     *                    slab's worth is not required: slabs shrink to fit the bound)
     */
    public BufferPool(int bufferBytes, long maxBytes) {
        if (bufferBytes <= 0 || maxBytes < bufferBytes) {
            throw new IllegalArgumentException("bufferBytes=" + bufferBytes + " maxBytes=" + maxBytes);
        }
        this.bufferBytes = bufferBytes;
        this.maxBuffers = (int) Math.min(Integer.MAX_VALUE - 8, maxBytes / bufferBytes);
        this.free = new ByteBuffer[Math.min(maxBuffers, 1 << 16)];
    }

    /** @return a cleared buffer, or null when the pool is at its bound and every buffer is in use. */
    public ByteBuffer take() {
        if (freeCount == 0 && !grow()) {
            return null;
        }
        ByteBuffer b = free[--freeCount];
        free[freeCount] = null;
        IN_USE.setRelease(this, ++inUsePlain);
        return b;
    }

    /** Returns a buffer taken from this pool; it is cleared here. */
    public void give(ByteBuffer buffer) {
        buffer.clear();
        if (freeCount == free.length) {
            // Only when more than 65536 buffers are out at once: drop it to the GC rather than grow the stack.
            allocatedPlain--;
            ALLOCATED.setRelease(this, allocatedPlain);
        } else {
            free[freeCount++] = buffer;
        }
        IN_USE.setRelease(this, --inUsePlain);
    }

    private boolean grow() {
        int room = maxBuffers - allocatedPlain;
        if (room <= 0) {
            return false;
        }
        int count = Math.min(Math.min(BUFFERS_PER_SLAB, room), free.length - freeCount);
        ByteBuffer slab = ByteBuffer.allocateDirect(count * bufferBytes);
        for (int i = 0; i < count; i++) {
            slab.limit((i + 1) * bufferBytes).position(i * bufferBytes);
            free[freeCount++] = slab.slice();
        }
        allocatedPlain += count;
        ALLOCATED.setRelease(this, allocatedPlain);
        return true;
    }

    public int bufferBytes() {
        return bufferBytes;
    }

    public int maxBuffers() {
        return maxBuffers;
    }

    /** Buffers handed out and not yet given back (any thread). */
    public int inUse() {
        return (int) IN_USE.getAcquire(this);
    }

    /** Buffers allocated so far (any thread). */
    public int allocated() {
        return (int) ALLOCATED.getAcquire(this);
    }
}
