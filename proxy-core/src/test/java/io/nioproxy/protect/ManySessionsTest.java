package io.nioproxy.protect;

import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.Http;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.nioproxy.testing.ProxyHarness.freePort;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * As many sessions as this machine's descriptor limit lets one balancer hold (20,000 descriptors a process: 9,000
 * sessions are 18,000 sockets in the balancer), opened, checked byte for byte, and closed in random order with data
 * still flowing; then the balancer's sessions, pooled buffers and descriptors are back to where they started. The
 * balancer runs in a child JVM so that its descriptors are its own; clients and an NIO echo backend share this one.
 */
class ManySessionsTest {
    static final int SESSIONS = 9_000;

    /** An echo backend on one thread, for thousands of connections. */
    static final class NioEcho implements AutoCloseable {
        final ServerSocketChannel server;
        final Selector selector;
        final Thread thread;
        volatile boolean running = true;

        NioEcho() throws IOException {
            server = ServerSocketChannel.open();
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 4096);
            server.configureBlocking(false);
            selector = Selector.open();
            server.register(selector, SelectionKey.OP_ACCEPT);
            thread = new Thread(this::run, "nio-echo");
            thread.setDaemon(true);
            thread.start();
        }

        int port() {
            return server.socket().getLocalPort();
        }

        void run() {
            ByteBuffer buf = ByteBuffer.allocateDirect(4096);
            try {
                while (running) {
                    selector.select(key -> {
                        try {
                            if (key.isAcceptable()) {
                                SocketChannel c;
                                while ((c = server.accept()) != null) {
                                    c.configureBlocking(false);
                                    c.register(selector, SelectionKey.OP_READ);
                                }
                            } else if (key.isReadable()) {
                                SocketChannel c = (SocketChannel) key.channel();
                                buf.clear();
                                int n = c.read(buf);
                                if (n < 0) {
                                    c.close();
                                    return;
                                }
                                buf.flip();
                                while (buf.hasRemaining()) {
                                    c.write(buf); // a few bytes into an empty socket buffer: taken at once
                                }
                            }
                        } catch (IOException e) {
                            try {
                                key.channel().close();
                            } catch (IOException ignored) {
                                // closing anyway
                            }
                        }
                    }, 200);
                }
            } catch (IOException e) {
                // stopping
            }
        }

        @Override
        public void close() throws IOException {
            running = false;
            selector.wakeup();
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            for (SelectionKey k : selector.keys()) {
                k.channel().close();
            }
            selector.close();
            server.close();
        }
    }


    static long fds(long pid) throws IOException {
        try (var list = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return list.count();
        }
    }

    static double metric(InetSocketAddress admin, String regex) throws IOException {
        String body = Http.request(admin, "GET", "/metrics").body();
        Matcher m = Pattern.compile("(?m)^" + regex + " (\\S+)$").matcher(body);
        double sum = 0;
        boolean found = false;
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
            found = true;
        }
        assertTrue(found, "metric " + regex);
        return sum;
    }

    @Test
    void nineThousandSessionsOpenedCheckedAndClosedInRandomOrder() throws Exception {
        int port = freePort();
        int adminPort = freePort();
        InetSocketAddress admin = new InetSocketAddress(InetAddress.getLoopbackAddress(), adminPort);
        try (NioEcho echo = new NioEcho()) {
            List<String> cmd = ChildBalancer.command(List.of("-Xmx256m", "-Dproxy.workers=2",
                    "-Dproxy.backends=127.0.0.1:" + echo.port(), "-Dproxy.listen=127.0.0.1:" + port,
                    "-Dproxy.admin=127.0.0.1:" + adminPort));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            List<Socket> open = new ArrayList<>();
            try {
                ChildBalancer.awaitAccepting(p, null);
                Http.request(admin, "GET", "/healthz");
                long fdBaseline = fds(p.pid());

                for (int i = 0; i < SESSIONS; i++) {
                    Socket s = new Socket();
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
                    s.setSoTimeout(10_000);
                    roundTrip(s, i);
                    open.add(s);
                }
                assertEquals(SESSIONS, metric(admin, "nioproxy_connections_active\\{[^}]*\\}"));
                assertTrue(fds(p.pid()) >= fdBaseline + 2L * SESSIONS, "two descriptors per session");

                Random r = new Random(9000);
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < SESSIONS; i++) {
                    order.add(i);
                }
                Collections.shuffle(order, r);
                boolean[] closed = new boolean[SESSIONS];
                int checked = 0;
                for (int k = 0; k < SESSIONS; k++) {
                    int victim = order.get(k);
                    if (k % 10 == 0) {
                        // data still flowing on some other open session while the closes go on
                        int other = order.get(k + r.nextInt(SESSIONS - k));
                        if (!closed[other]) {
                            roundTrip(open.get(other), other + 1_000_000L * k);
                            checked++;
                        }
                    }
                    open.get(victim).close();
                    closed[victim] = true;
                }
                assertTrue(checked > 500, "round trips during the closes: " + checked);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (metric(admin, "nioproxy_connections_active\\{[^}]*\\}") > 0 && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                assertEquals(0, metric(admin, "nioproxy_connections_active\\{[^}]*\\}"), "every session ended");
                assertEquals(0, metric(admin, "nioproxy_buffers_in_use\\{[^}]*\\}"), "every buffer back in its pool");
                assertEquals(SESSIONS, metric(admin, "nioproxy_connections_accepted_total\\{[^}]*\\}"));
                while (fds(p.pid()) > fdBaseline + 2 && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                assertTrue(fds(p.pid()) <= fdBaseline + 2, "descriptors back to the baseline " + fdBaseline + ": "
                        + fds(p.pid()));
            } finally {
                for (Socket s : open) {
                    s.close();
                }
                p.toHandle().destroy();
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            }
            assertEquals(0, p.exitValue());
        }
    }

    static void roundTrip(Socket s, long value) throws IOException {
        new DataOutputStream(s.getOutputStream()).writeLong(value);
        assertEquals(value, new DataInputStream(s.getInputStream()).readLong());
    }
}
