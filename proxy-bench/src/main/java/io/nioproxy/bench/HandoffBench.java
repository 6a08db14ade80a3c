package io.nioproxy.bench;

import io.nioproxy.buffer.BufferPool;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.LoopTask;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A task handed to a running event loop and run there, round trip: the MPSC offer, the coalesced wake-up of a loop
 * blocked in select, and the loop's turn. What {@code acceptor} mode pays per accepted connection.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class HandoffBench {
    EventLoop loop;
    final AtomicLong done = new AtomicLong();
    final LoopTask task = new LoopTask() {
        @Override
        public void runOn(EventLoop l) {
            done.incrementAndGet();
        }
    };

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        loop = new EventLoop(0, new BufferPool(16384, 1 << 20), null, io.nioproxy.transport.nio.NioTransport.INSTANCE, 0);
        loop.start();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        loop.close();
    }

    @Benchmark
    public long handoffAndWait() {
        long target = done.get() + 1;
        loop.execute(task);
        while (done.get() < target) {
            Thread.onSpinWait();
        }
        return target;
    }
}
