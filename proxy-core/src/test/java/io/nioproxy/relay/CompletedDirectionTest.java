package io.nioproxy.relay;

import io.nioproxy.Proxy;
import io.nioproxy.config.Settings;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;

import static io.nioproxy.testing.ProxyHarness.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A direction that has ended cleanly — all its bytes and its FIN received by the balancer — is delivered whole and
 * ended with a FIN, whatever happens afterwards on the other direction: a write toward a peer that has gone fails
 * and ends only the direction toward that peer.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CompletedDirectionTest {
    private static final int SIZE = 4 << 20;
    /** Left in flight when a side pauses reading: far less than the kernel and balancer buffers between. */
    private static final int LEFT_IN_FLIGHT = 256 << 10;

    private static byte[] payload(long seed) {
        byte[] b = new byte[SIZE];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** The one live session's byte count, read on its loop. */
    private static long sessionBytes(Proxy p, ToLongFunction<LoopSnapshot.SessionRow> field) {
        return p.snapshot(true, null).stream().flatMap(s -> s.sessions.stream()).mapToLong(field).sum();
    }

    /**
     * The backend writes 4 MiB and its FIN, then closes. The client reads slowly and, once the balancer holds the
     * whole reply, writes lines toward the backend that has gone (its kernel answers them with a reset, so the
     * balancer's next write there fails). The client still receives the 4 MiB byte for byte and a clean end of stream.
     */
    @Test
    void aReplyTheBackendCompletedReachesTheClientWholeAfterAWriteToItFails() throws Exception {
        byte[] reply = payload(1);
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(new TcpServer(s -> {
                 OutputStream out = s.getOutputStream();
                 out.write(reply);
                 s.shutdownOutput();
             }))) {
            Proxy p = h.start(Settings.BACKENDS.property(), backend.address(), Settings.WORKERS.property(), "1");
            try (Socket c = ProxyHarness.connect(p, null)) {
                InputStream in = c.getInputStream();
                ByteArrayOutputStream got = new ByteArrayOutputStream();
                byte[] buf = new byte[16 << 10];
                while (got.size() < SIZE - LEFT_IN_FLIGHT) {
                    got.write(buf, 0, in.read(buf, 0, Math.min(buf.length, SIZE - LEFT_IN_FLIGHT - got.size())));
                }
                await("the balancer read the whole reply", Duration.ofSeconds(10),
                        () -> sessionBytes(p, LoopSnapshot.SessionRow::bytesDown) == SIZE);
                await("the backend closed its socket", Duration.ofSeconds(10), () -> backend.openConnections() == 0);
                OutputStream out = c.getOutputStream();
                for (int i = 0; i < 4; i++) {
                    out.write(("one more line " + i + "\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    Thread.sleep(50); // the reset from the backend's kernel comes back between two lines
                }
                in.transferTo(got); // a reset would throw here
                assertEquals(SIZE, got.size(), "every byte of the reply");
                assertArrayEquals(reply, got.toByteArray(), "byte for byte");
            }
            var route = p.listeners().get(0).route();
            await("the session ended as completed by the backend", Duration.ofSeconds(5),
                    () -> route.closedFor(Session.CloseReason.BACKEND_CLOSED) == 1);
            assertEquals(0, route.closedFor(Session.CloseReason.CLIENT_RESET)
                    + route.closedFor(Session.CloseReason.BACKEND_RESET), "no reset");
        }
    }

    /**
     * The mirror: the client uploads 4 MiB and its FIN, then closes its socket. The backend, still reading, writes
     * replies toward the client that has gone (its kernel resets them, so the balancer's next write there fails).
     * The backend still receives the 4 MiB byte for byte and a clean end of stream.
     */
    @Test
    void anUploadTheClientCompletedReachesTheBackendWholeAfterAWriteToItFails() throws Exception {
        byte[] upload = payload(2);
        CountDownLatch clientGone = new CountDownLatch(1);
        CompletableFuture<byte[]> received = new CompletableFuture<>();
        try (ProxyHarness h = new ProxyHarness();
             TcpServer backend = h.add(new TcpServer(s -> {
                 InputStream in = s.getInputStream();
                 ByteArrayOutputStream got = new ByteArrayOutputStream();
                 try {
                     byte[] buf = new byte[16 << 10];
                     while (got.size() < SIZE - LEFT_IN_FLIGHT) {
                         got.write(buf, 0, in.read(buf, 0, Math.min(buf.length, SIZE - LEFT_IN_FLIGHT - got.size())));
                     }
                     if (!clientGone.await(20, TimeUnit.SECONDS)) {
                         throw new IOException("the client did not close");
                     }
                     OutputStream out = s.getOutputStream();
                     for (int i = 0; i < 4; i++) {
                         out.write(("reply " + i + "\n").getBytes(StandardCharsets.US_ASCII));
                         out.flush();
                         Thread.sleep(50);
                     }
                     in.transferTo(got); // a reset would throw here
                     received.complete(got.toByteArray());
                 } catch (IOException | InterruptedException | RuntimeException e) {
                     received.completeExceptionally(new AssertionError("after " + got.size() + " bytes", e));
                 }
             }))) {
            Proxy p = h.start(Settings.BACKENDS.property(), backend.address(), Settings.WORKERS.property(), "1");
            try (Socket c = ProxyHarness.connect(p, null)) {
                c.getOutputStream().write(upload);
                c.shutdownOutput();
                await("the balancer read the whole upload", Duration.ofSeconds(10),
                        () -> sessionBytes(p, LoopSnapshot.SessionRow::bytesUp) == SIZE);
            }
            clientGone.countDown();
            byte[] got = received.get(20, TimeUnit.SECONDS);
            assertEquals(SIZE, got.length, "every byte of the upload");
            assertArrayEquals(upload, got, "byte for byte");
            var route = p.listeners().get(0).route();
            await("the session ended", Duration.ofSeconds(5), () -> p.sessions() == 0);
            assertEquals(0, route.closedFor(Session.CloseReason.CLIENT_RESET)
                    + route.closedFor(Session.CloseReason.BACKEND_RESET), "no reset");
            assertTrue(route.closedFor(Session.CloseReason.CLIENT_CLOSED) == 1, "ended as completed by the client");
        }
    }
}
