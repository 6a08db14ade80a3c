package io.nioproxy.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The selected-key dispatch alone: {@value #KEYS} pipes kept readable, one {@code selectNow} reports them all, and
 * each ready key is handed to its attachment. {@code consumer} is what the event loop does
 * ({@code select(Consumer)}, JDK 11+: no selected-key set); {@code selectedKeySet} is the classic
 * {@code selectedKeys()} iteration with its HashSet add, iterator and remove per key, for comparison. Per key.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class DispatchBench {
    static final int KEYS = 64;

    /** Stands for an IoHandler: the attachment the loop calls. */
    static final class Handler {
        long events;

        void onReady(int readyOps) {
            events += readyOps;
        }
    }

    Selector selector;
    Pipe[] pipes;
    final Consumer<SelectionKey> dispatch = key -> ((Handler) key.attachment()).onReady(key.readyOps());

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        selector = Selector.open();
        pipes = new Pipe[KEYS];
        for (int i = 0; i < KEYS; i++) {
            pipes[i] = Pipe.open();
            pipes[i].source().configureBlocking(false);
            pipes[i].source().register(selector, SelectionKey.OP_READ, new Handler());
            pipes[i].sink().write(ByteBuffer.wrap(new byte[] {1})); // never read: stays readable
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        selector.close();
        for (Pipe p : pipes) {
            p.source().close();
            p.sink().close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(KEYS)
    public int consumer() throws IOException {
        return selector.selectNow(dispatch);
    }

    @Benchmark
    @OperationsPerInvocation(KEYS)
    public int selectedKeySet() throws IOException {
        int n = selector.selectNow();
        Iterator<SelectionKey> it = selector.selectedKeys().iterator();
        while (it.hasNext()) {
            SelectionKey key = it.next();
            it.remove();
            ((Handler) key.attachment()).onReady(key.readyOps());
        }
        return n;
    }
}
