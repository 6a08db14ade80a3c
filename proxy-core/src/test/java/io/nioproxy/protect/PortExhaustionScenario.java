package io.nioproxy.protect;

import io.nioproxy.Proxy;
import io.nioproxy.balance.Backend;
import io.nioproxy.config.Settings;
import io.nioproxy.testing.ProxyHarness;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * Run inside a network namespace whose {@code ip_local_port_range} has ten ports ({@link PortExhaustionTest}): a
 * balancer and a backend in this process, clients bound to fixed ports outside the range. The eleventh concurrent
 * backend connection finds no local port (EADDRNOTAVAIL). Prints what happened; exits 0 when all was as it must be.
 */
public final class PortExhaustionScenario {
    public static void main(String[] args) throws Exception {
        // fixed ports outside the ten-port range, so that the range serves the balancer's backend connects alone
        ServerSocket backend = new ServerSocket(45001, 100, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(() -> {
            while (true) {
                try {
                    Socket s = backend.accept();
                    Thread t = new Thread(() -> {
                        try (s) {
                            s.getOutputStream().write("b\n".getBytes());
                            s.getInputStream().read(); // the client says when to close; the backend closes first,
                            // so the TIME_WAIT is on its side and the balancer's local port is free at once
                        } catch (IOException ignored) {
                            // gone
                        }
                    });
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        Properties p = new Properties();
        p.setProperty("proxy.listen", "127.0.0.1:45000");
        p.setProperty("proxy.backends", "127.0.0.1:" + backend.getLocalPort());
        p.setProperty("proxy.workers", "1");
        Proxy proxy = Proxy.start(Settings.from(p).build());
        int port = proxy.listeners().get(0).boundAddress().getPort();
        long idleSockets = ProxyHarness.openSockets(Set.of()); // the backend's listener and the balancer's
        List<Socket> served = new ArrayList<>();
        int refused = 0;
        long slowestRefusalMs = 0;
        for (int i = 0; i < 20; i++) {
            Socket s = new Socket();
            s.bind(new InetSocketAddress("127.0.0.1", 50000 + i)); // outside the 10-port range: only the balancer's
            s.connect(new InetSocketAddress("127.0.0.1", port), 5000); // backend connections use it up
            s.setSoTimeout(5000);
            long t0 = System.nanoTime();
            String line = readLine(s.getInputStream());
            if ("b".equals(line)) {
                served.add(s);
            } else {
                refused++;
                slowestRefusalMs = Math.max(slowestRefusalMs, (System.nanoTime() - t0) / 1_000_000);
                s.close();
            }
        }
        Backend b = proxy.listeners().get(0).backends().get(0);
        Thread.sleep(300); // a passive-health tick would have run by now
        String stateAfter = b.state().label();
        // free five ports: the backend closes first, so the balancer's side leaves no TIME_WAIT behind
        for (int i = 0; i < 5; i++) {
            Socket s = served.remove(0);
            s.getOutputStream().write('q');
            s.getInputStream().read();
            s.close();
        }
        Thread.sleep(200);
        String again;
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 50100));
            s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            s.setSoTimeout(5000);
            again = readLine(s.getInputStream());
        }
        long local = proxy.listeners().get(0).route().localFailures();
        long blamed = b.connectFailures();
        int servedCount = served.size() + 5;
        for (Socket s : served) {
            s.close();
        }
        // no socket of a failed connect (nor of any session) is left: back to the two listeners, exactly
        long sockets = ProxyHarness.openSockets(Set.of());
        for (int i = 0; i < 100 && sockets != idleSockets; i++) {
            Thread.sleep(100);
            sockets = ProxyHarness.openSockets(Set.of());
        }
        System.out.println("served=" + servedCount + " refused=" + refused + " localFailures=" + local
                + " backendFailures=" + blamed + " backendState=" + stateAfter + " slowestRefusalMs=" + slowestRefusalMs
                + " again=" + again + " socketsAfter=" + sockets + "/" + idleSockets);
        boolean ok = servedCount == 10 && refused == 10 && local == 10 && blamed == 0
                && stateAfter.equals("up") && slowestRefusalMs < 1000 && "b".equals(again) && sockets == idleSockets;
        proxy.close();
        backend.close();
        System.exit(ok ? 0 : 1);
    }

    static String readLine(InputStream in) {
        StringBuilder sb = new StringBuilder();
        try {
            int c;
            while ((c = in.read()) >= 0 && c != '\n') {
                sb.append((char) c);
            }
            return c < 0 && sb.length() == 0 ? null : sb.toString();
        } catch (IOException e) {
            return null;
        }
    }
}
