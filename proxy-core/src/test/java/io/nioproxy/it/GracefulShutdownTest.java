package io.nioproxy.it;

import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGTERM on a balancer holding 200 sessions, in a child JVM: the listener closes at once, the sessions get the
 * shutdown timeout to end on their own, then are closed spread over the pacing window (not in one burst), and the
 * process exits 0.
 */
class GracefulShutdownTest {
    @Test
    void sigtermStopsAcceptingAtOnceAndClosesSessionsPacedOverTheWindow() throws Exception {
        int port = ProxyHarness.freePort();
        try (TcpServer backend = TcpServer.named("b")) {
            List<String> cmd = ChildBalancer.command(List.of("-Xmx256m", "-Dproxy.backends=" + backend.address(),
                    "-Dproxy.listen=127.0.0.1:" + port, "-Dproxy.shutdown.timeout=500ms", "-Dproxy.shutdown.pace=2s"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            List<String> tail = new ArrayList<>();
            ChildBalancer.awaitAccepting(p, tail);
            long idle = ChildBalancer.sockets(p);
            assertTrue(idle >= 1, "listening sockets (one per loop with SO_REUSEPORT): " + idle);
            int sessions = 200;
            Socket[] clients = new Socket[sessions];
            for (int i = 0; i < sessions; i++) {
                clients[i] = new Socket(InetAddress.getLoopbackAddress(), port);
                clients[i].setSoTimeout(15_000);
                assertEquals('b', clients[i].getInputStream().read());
            }
            ChildBalancer.awaitSockets(p, idle + 2 * sessions, "two legs per session before SIGTERM");
            long[] closedAtMs = new long[sessions];
            Thread[] readers = new Thread[sessions];
            long sigterm = System.nanoTime();
            for (int i = 0; i < sessions; i++) {
                int id = i;
                readers[i] = new Thread(() -> {
                    try {
                        InputStream in = clients[id].getInputStream();
                        while (in.read() >= 0) {
                            // "\n" after the name, then nothing until the close
                        }
                    } catch (Exception e) {
                        // a reset is a close too
                    }
                    closedAtMs[id] = (System.nanoTime() - sigterm) / 1_000_000;
                });
                readers[i].start();
            }
            p.toHandle().destroy(); // SIGTERM
            Thread.sleep(200);
            assertThrows(ConnectException.class, () -> {
                try (Socket late = new Socket()) {
                    late.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
                }
            }, "the listener is closed at once");
            for (Thread t : readers) {
                t.join(15_000);
            }
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue());
            for (Socket s : clients) {
                s.close();
            }
            long[] sorted = closedAtMs.clone();
            Arrays.sort(sorted);
            long first = sorted[0];
            long last = sorted[sessions - 1];
            long p10 = sorted[sessions / 10];
            long p90 = sorted[sessions * 9 / 10];
            System.out.printf("paced shutdown of %d sessions: first close %d ms after SIGTERM, p10 %d, median %d, p90 %d,"
                    + " last %d ms (timeout 500 ms, window 2000 ms)%n", sessions, first, p10, sorted[sessions / 2], p90, last);
            assertTrue(first >= 450, "nothing is closed before the shutdown timeout: first at " + first + " ms");
            assertTrue(p90 - p10 >= 1000, "closes spread over the window, p10..p90 = " + p10 + ".." + p90 + " ms");
            assertTrue(last <= 500 + 2000 + 1000, "all closed by the end of the window: " + last + " ms");
            // at most ~1/10 of the sessions closed in any 100 ms slice (a burst would put them all in one)
            int[] perSlice = new int[40];
            for (long t : sorted) {
                perSlice[(int) Math.min(39, t / 100)]++;
            }
            int maxSlice = Arrays.stream(perSlice).max().orElseThrow();
            assertTrue(maxSlice <= sessions / 5, "largest 100 ms burst: " + maxSlice + " of " + sessions);
            Thread.sleep(200); // the drain thread reads the last lines after the exit
            synchronized (tail) {
                assertTrue(tail.stream().anyMatch(l -> l.contains("closing 200 sessions spread over 2s")),
                        String.join("\n", tail));
            }
        }
    }
}
