package io.nioproxy.relay;

import io.nioproxy.Proxy;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The relay allocates nothing per event: the loop thread's allocated bytes, measured by the JVM, over thousands of
 * request/response round trips on an open session. (JMH {@code -prof gc} in proxy-bench says the same per op.)
 */
class HotPathAllocationTest {
    @Test
    void relayingOnAnOpenSessionAllocatesNothingOnTheLoop() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            TcpServer echo = h.add(TcpServer.echo());
            Proxy p = h.start("proxy.backends", echo.address(), "proxy.workers", "1");
            com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long loopThread = p.loopThreadIds()[0];
            byte[] msg = new byte[64];
            byte[] back = new byte[64];
            try (Socket s = ProxyHarness.connect(p, null)) {
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                for (int i = 0; i < 30_000; i++) { // warm-up: let the JIT compile the relay path
                    msg[0] = (byte) i;
                    out.write(msg);
                    readFully(in, back);
                }
                int rounds = 20_000;
                long before = mx.getThreadAllocatedBytes(loopThread);
                for (int i = 0; i < rounds; i++) {
                    msg[0] = (byte) i;
                    out.write(msg);
                    readFully(in, back);
                }
                long allocated = mx.getThreadAllocatedBytes(loopThread) - before;
                assertArrayEquals(msg, back);
                double perRoundTrip = (double) allocated / rounds;
                System.out.printf("relay hot path: %d bytes allocated on the loop over %d round trips (%.3f B each)%n",
                        allocated, rounds, perRoundTrip);
                assertTrue(perRoundTrip < 1.0, "allocated " + allocated + " bytes over " + rounds + " round trips");
            }
        }
    }

    private static void readFully(InputStream in, byte[] b) throws java.io.IOException {
        int off = 0;
        while (off < b.length) {
            int n = in.read(b, off, b.length - off);
            if (n < 0) {
                throw new java.io.EOFException();
            }
            off += n;
        }
    }
}
