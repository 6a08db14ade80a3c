package io.nioproxy;

import io.nioproxy.config.Settings;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Properties;

/**
 * Runs the data path on loopback before the real listeners open, so that the JIT has compiled it when the first
 * client arrives: a private balancer and echo backend, some short connections (accept, pick, connect, relay, close)
 * and request/response round trips on a kept-open one. Without it the first seconds of traffic run interpreted and
 * the compiler threads compete with the loop — the slow first requests and the long latency tail HAProxy and nginx
 * do not have. Everything it opens is closed before {@link Main} binds the real listeners.
 *
 * <p>Start-up thread only. Costs well under a second of CPU with the default {@code proxy.warmup}.
 */
final class WarmUp {
    private WarmUp() {
    }

    /**
     * @param roundTrips the number of request/response round trips (a fortieth as many short connections)
     * @return a summary for the start-up log line (logged by Main with the settings, so that a start-up error stays
     *         the only line a failed start prints)
     */
    static String run(int roundTrips) {
        if (roundTrips <= 0) {
            return "warm-up off";
        }
        long start = System.nanoTime();
        try (ServerSocket echo = new ServerSocket(0, 128, InetAddress.getLoopbackAddress())) {
            Thread backend = new Thread(() -> serve(echo), "nioproxy-warmup-echo");
            backend.setDaemon(true);
            backend.start();
            Properties p = new Properties();
            p.setProperty(Settings.LISTEN.property(), "127.0.0.1:0");
            p.setProperty(Settings.BACKENDS.property(), "127.0.0.1:" + echo.getLocalPort());
            p.setProperty(Settings.WORKERS.property(), "1");
            try (Proxy proxy = Proxy.start(Settings.from(p).build())) {
                InetSocketAddress front = proxy.listeners().get(0).boundAddress();
                // several clients at once: the loop then handles many ready keys per turn, as under real load, and
                // the warm-up is bound by CPU rather than by one connection's round-trip time
                Thread[] clients = new Thread[CLIENTS];
                IOException[] failure = new IOException[1];
                for (int c = 0; c < CLIENTS; c++) {
                    clients[c] = new Thread(() -> {
                        try {
                            drive(front, roundTrips / CLIENTS);
                        } catch (IOException e) {
                            failure[0] = e;
                        }
                    }, "nioproxy-warmup-client");
                    clients[c].start();
                }
                for (Thread t : clients) {
                    t.join();
                }
                if (failure[0] != null) {
                    throw failure[0];
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "warm-up interrupted";
            }
        } catch (IOException | RuntimeException e) {
            return "warm-up skipped: " + e; // never a reason not to start
        }
        return "warm-up " + roundTrips + " round trips and " + roundTrips / 40 + " connections in "
                + (System.nanoTime() - start) / 1_000_000 + " ms";
    }

    static final int CLIENTS = 8;

    /** One client's share: round trips on a kept-open connection, then a fortieth as many short connections. */
    private static void drive(InetSocketAddress front, int roundTrips) throws IOException {
        byte[] msg = new byte[64];
        byte[] back = new byte[64];
        try (Socket s = new Socket(front.getAddress(), front.getPort())) {
            s.setTcpNoDelay(true);
            for (int i = 0; i < roundTrips; i++) {
                roundTrip(s, msg, back);
            }
        }
        for (int i = 0; i < roundTrips / 40; i++) {
            try (Socket s = new Socket(front.getAddress(), front.getPort())) {
                roundTrip(s, msg, back);
                s.shutdownOutput();
                s.getInputStream().read();
            }
        }
    }

    private static void roundTrip(Socket s, byte[] msg, byte[] back) throws IOException {
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        out.write(msg);
        int off = 0;
        while (off < back.length) {
            int n = in.read(back, off, back.length - off);
            if (n < 0) {
                throw new IOException("closed during warm-up");
            }
            off += n;
        }
    }

    private static void serve(ServerSocket server) {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                Thread t = new Thread(() -> {
                    byte[] buf = new byte[4096];
                    try (s) {
                        s.setTcpNoDelay(true);
                        int n;
                        while ((n = s.getInputStream().read(buf)) > 0) {
                            s.getOutputStream().write(buf, 0, n);
                        }
                    } catch (IOException ignored) {
                        // closing
                    }
                }, "nioproxy-warmup-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }
}
