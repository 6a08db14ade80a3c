package io.nioproxy.bench;

import io.nioproxy.balance.Hashing;
import io.nioproxy.balance.MaglevTable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Backend choice per new connection: the client-address hash plus the Maglev lookup ({@code lookup}), and the table
 * build a change of backends costs ({@code build}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class MaglevBench {
    @Param({"3", "100", "1000"})
    int backends;

    String[] ids;
    int[] weights;
    MaglevTable table;
    InetAddress[] clients;
    int next;

    @Setup
    public void setUp() throws UnknownHostException {
        ids = new String[backends];
        for (int i = 0; i < backends; i++) {
            ids[i] = String.format("10.0.%d.%d:8080", i / 250, i % 250 + 1);
        }
        Arrays.sort(ids);
        weights = new int[backends];
        Arrays.fill(weights, 1);
        table = MaglevTable.build(ids, weights);
        clients = new InetAddress[1024];
        for (int i = 0; i < clients.length; i++) {
            clients[i] = InetAddress.getByAddress(new byte[] {127, 0, (byte) (i >> 8), (byte) i});
        }
    }

    @Benchmark
    public int lookup() {
        InetAddress a = clients[next++ & 1023];
        return table.lookup(Hashing.clientHash(a, -1));
    }

    @Benchmark
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public MaglevTable build() {
        return MaglevTable.build(ids, weights);
    }
}
