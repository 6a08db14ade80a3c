package io.nioproxy.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small TCP relay for fault tests (toxiproxy's faults, written for these tests): put between two peers, it
 * forwards bytes in both directions and, in the direction {@code from listener to target} ("down") or back ("up"),
 * adds latency, slices writes into single bytes, stalls, or resets or closes after N bytes. It counts exactly what it
 * forwarded, so a test can tell which bytes the next hop ever received.
 */
public final class FaultProxy implements AutoCloseable {
    /** What happens to the bytes flowing back from the target (the direction under test). */
    public enum Fault { NONE, LATENCY, SLICE, STALL, RESET_AFTER, CLOSE_AFTER, SLICE_FIRST_FORWARD }

    private final ServerSocket server;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final AtomicLong forwardedBack = new AtomicLong();
    private final Fault fault;
    private final long after;
    private volatile boolean closed;

    /**
     * @param target where to connect
     * @param fault  applied to the bytes coming back from the target; {@code SLICE_FIRST_FORWARD}: to the first
     *               {@code after} bytes going to it
     * @param after  the byte count for RESET_AFTER, CLOSE_AFTER and SLICE_FIRST_FORWARD
     */
    public FaultProxy(InetSocketAddress target, Fault fault, long after) throws IOException {
        this.fault = fault;
        this.after = after;
        server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            while (!closed) {
                try {
                    Socket in = server.accept();
                    Socket out = new Socket(target.getAddress(), target.getPort());
                    in.setTcpNoDelay(true);
                    out.setTcpNoDelay(true);
                    sockets.add(in);
                    sockets.add(out);
                    pump(in, out, false);
                    pump(out, in, true);
                } catch (IOException e) {
                    return;
                }
            }
        }, "fault-proxy-accept");
        t.setDaemon(true);
        t.start();
    }

    private void pump(Socket from, Socket to, boolean back) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                long sent = 0;
                int n;
                while ((n = in.read(buf)) > 0) {
                    if (!back && fault == Fault.SLICE_FIRST_FORWARD && sent < after) {
                        // the first bytes toward the target one segment each (a ClientHello a byte at a time)
                        int sliced = (int) Math.min(n, after - sent);
                        for (int i = 0; i < sliced; i++) {
                            out.write(buf[i]);
                            out.flush();
                            sleep(1);
                        }
                        out.write(buf, sliced, n - sliced);
                        out.flush();
                        sent += n;
                        continue;
                    }
                    if (back) {
                        switch (fault) {
                            case LATENCY -> sleep(5);
                            case STALL -> {
                                if (sent == 0) {
                                    sleep(500);
                                }
                            }
                            default -> {
                            }
                        }
                        if ((fault == Fault.RESET_AFTER || fault == Fault.CLOSE_AFTER) && sent + n >= after) {
                            int last = (int) (after - sent);
                            out.write(buf, 0, last);
                            out.flush();
                            forwardedBack.addAndGet(last);
                            if (fault == Fault.RESET_AFTER) {
                                to.setSoLinger(true, 0);
                                from.setSoLinger(true, 0);
                                to.close();
                                from.close();
                            } else {
                                to.shutdownOutput();
                                from.close();
                            }
                            return;
                        }
                        if (fault == Fault.SLICE) {
                            for (int i = 0; i < n; i++) {
                                out.write(buf[i]);
                                out.flush();
                                forwardedBack.incrementAndGet();
                            }
                            sent += n;
                            continue;
                        }
                    }
                    out.write(buf, 0, n);
                    out.flush();
                    sent += n;
                    if (back) {
                        forwardedBack.addAndGet(n);
                    }
                }
                to.shutdownOutput();
            } catch (IOException e) {
                try {
                    to.setSoLinger(true, 0);
                    to.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }, "fault-proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    /** Bytes forwarded from the target back toward the listener's side. */
    public long forwardedBack() {
        return forwardedBack.get();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : sockets) {
            s.close();
        }
    }
}
