package io.nioproxy.bench;

import io.nioproxy.tls.ClientHelloParser;
import io.nioproxy.tls.ServerNameRules;
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

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What routing one TLS connection by server name costs the loop: reading the name from a real ClientHello (the
 * JDK's, about 0.5–1.9 KB) and matching it against the rules ({@code whole}: the hello in one read, as nearly every
 * client sends it; {@code split}: the same hello arriving in {@code segments} reads, each call re-walking the record
 * headers received so far).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class ClientHelloBench {
    @Param({"eu.api.example.com"})
    String name;

    @Param({"8"})
    int segments;

    ByteBuffer hello;
    ClientHelloParser parser;
    ServerNameRules<String> rules;

    @Setup
    public void setUp() throws Exception {
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, null, null);
        SSLEngine engine = ctx.createSSLEngine("peer.invalid", 443);
        engine.setUseClientMode(true);
        SSLParameters params = engine.getSSLParameters();
        params.setServerNames(List.of(new SNIHostName(name)));
        engine.setSSLParameters(params);
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.wrap(ByteBuffer.allocate(0), out);
        out.flip();
        hello = ByteBuffer.allocateDirect(16384); // as the loop reads it: into a pooled direct buffer
        hello.put(out).flip();
        parser = new ClientHelloParser(16384);
        rules = ServerNameRules.parse("chat.example.com=chat,api.example.com=api,*.api.example.com=api,"
                + "*.example.org=org,www.example.net=net");
    }

    @Benchmark
    public String whole() {
        if (parser.parse(hello) != ClientHelloParser.FOUND) {
            throw new IllegalStateException();
        }
        return rules.match(parser.serverName());
    }

    @Benchmark
    public String split() {
        int limit = hello.limit();
        try {
            int step = (limit + segments - 1) / segments;
            for (int end = step; end < limit; end += step) {
                hello.limit(end);
                if (parser.parse(hello) != ClientHelloParser.NEED_MORE) {
                    throw new IllegalStateException();
                }
            }
        } finally {
            hello.limit(limit);
        }
        return whole();
    }
}
