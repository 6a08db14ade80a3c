package io.nioproxy.relay;

import io.nioproxy.Proxy;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client sends 50 MiB and its FIN to a backend that reads nothing for a while, then reads (Envoy's
 * {@code TcpProxyUpstreamFlush}): every byte arrives, in order, then the end of stream; while the backend does not
 * read, the balancer holds at most a buffer or two for the session, whatever the client pushes. And the same flush
 * survives a graceful shutdown that begins in the middle of it.
 */
class FlushToBackendTest {
    private static final int SIZE = 50 << 20;

    /** Reads to the end of stream after {@code startReading} opens, checking every byte against the client's. */
    private static TcpServer lateReader(CountDownLatch startReading, CompletableFuture<long[]> got) throws Exception {
        return new TcpServer(s -> {
            try {
                if (!startReading.await(30, TimeUnit.SECONDS)) {
                    throw new java.io.IOException("never told to read");
                }
                InputStream in = s.getInputStream();
                SplittableRandom expected = new SplittableRandom(50);
                byte[] buf = new byte[64 << 10];
                long n = 0;
                long wrong = 0;
                int k;
                while ((k = in.read(buf)) > 0) {
                    for (int i = 0; i < k; i++) {
                        if (buf[i] != (byte) expected.nextInt(256)) {
                            wrong++;
                        }
                    }
                    n += k;
                }
                got.complete(new long[] {n, wrong});
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.io.IOException e) {
                got.completeExceptionally(e);
            }
        });
    }

    /** Writes the 50 MiB and a FIN from a thread of its own (the writes block while the backend does not read). */
    private static CompletableFuture<Void> upload(Socket c) {
        return CompletableFuture.runAsync(() -> {
            try {
                OutputStream out = c.getOutputStream();
                SplittableRandom r = new SplittableRandom(50);
                byte[] chunk = new byte[64 << 10];
                for (int sent = 0; sent < SIZE; sent += chunk.length) {
                    for (int i = 0; i < chunk.length; i++) {
                        chunk[i] = (byte) r.nextInt(256);
                    }
                    out.write(chunk);
                }
                c.shutdownOutput();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    @Test
    void fiftyMebibytesAndAFinReachABackendThatReadsLateWithBoundedMemory() throws Exception {
        CountDownLatch startReading = new CountDownLatch(1);
        CompletableFuture<long[]> got = new CompletableFuture<>();
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(lateReader(startReading, got))) {
            Proxy p = h.start("proxy.backends", backend.address(), "proxy.workers", "1");
            try (Socket c = ProxyHarness.connect(p, null)) {
                CompletableFuture<Void> sent = upload(c);
                Thread.sleep(1000); // the backend reads nothing: everything between is full
                assertTrue(!sent.isDone(), "50 MiB cannot fit in the buffers between");
                int held = p.buffersInUse();
                assertTrue(held <= 2, "buffers held for one stalled direction: " + held);
                startReading.countDown();
                long[] r = got.get(60, TimeUnit.SECONDS);
                assertEquals(SIZE, r[0], "every byte");
                assertEquals(0, r[1], "in order, unchanged");
                sent.get(10, TimeUnit.SECONDS);
                assertEquals(-1, ProxyHarness.readOrReset(c), "the session ends once the backend closes");
            }
        }
    }

    @Test
    void aGracefulShutdownThatBeginsMidFlushLetsItFinish() throws Exception {
        CountDownLatch startReading = new CountDownLatch(1);
        CompletableFuture<long[]> got = new CompletableFuture<>();
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(lateReader(startReading, got))) {
            Proxy p = h.start("proxy.backends", backend.address(), "proxy.workers", "1");
            try (Socket c = ProxyHarness.connect(p, null)) {
                CompletableFuture<Void> sent = upload(c);
                Thread.sleep(300);
                long begun = System.nanoTime();
                CompletableFuture<Void> stopped = CompletableFuture.runAsync(
                        () -> p.shutdownGracefully(TimeUnit.SECONDS.toNanos(30), TimeUnit.SECONDS.toNanos(1)));
                Thread.sleep(700); // stopped accepting; the flush waits for the backend
                assertTrue(!stopped.isDone(), "the shutdown waits for the session");
                startReading.countDown();
                long[] r = got.get(60, TimeUnit.SECONDS);
                assertEquals(SIZE, r[0], "every byte, across the shutdown");
                assertEquals(0, r[1]);
                sent.get(10, TimeUnit.SECONDS);
                stopped.get(30, TimeUnit.SECONDS);
                long ms = (System.nanoTime() - begun) / 1_000_000;
                assertTrue(ms < 25_000, "the shutdown ended with the session, not at its 30 s timeout: " + ms + " ms");
            }
        }
    }
}
