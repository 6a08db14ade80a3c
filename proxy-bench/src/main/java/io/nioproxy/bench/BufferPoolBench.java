package io.nioproxy.bench;

import io.nioproxy.buffer.BufferPool;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/** One take and one give of a pooled relay buffer: what each relayed read costs on top of the syscalls. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class BufferPoolBench {
    BufferPool pool;

    @Setup
    public void setUp() {
        pool = new BufferPool(16384, 64L << 20);
    }

    @Benchmark
    public int takeGive() {
        ByteBuffer b = pool.take();
        int cap = b.capacity();
        pool.give(b);
        return cap;
    }
}
