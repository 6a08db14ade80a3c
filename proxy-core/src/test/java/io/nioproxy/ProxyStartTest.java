package io.nioproxy;

import io.nioproxy.config.Settings;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link Proxy#start(io.nioproxy.config.ProxyConfig, Runnable)}: the hook the command line uses for its start-up
 * collection ({@link Main#collectStartUpGarbage}) runs once the event loops are up and before any listener takes a
 * client, so that no client waits on it; after it the balancer relays as usual.
 */
class ProxyStartTest {
    @Test
    void theHookRunsWithTheLoopsUpAndBeforeAnyClientCanConnect() throws Exception {
        int port = ProxyHarness.freePort();
        try (TcpServer backend = TcpServer.named("only")) {
            Properties p = new Properties();
            p.setProperty(Settings.LISTEN.property(), "127.0.0.1:" + port);
            p.setProperty(Settings.BACKENDS.property(), backend.address());
            List<String> seen = new ArrayList<>();
            Proxy proxy = Proxy.start(Settings.from(p).build(), () -> {
                seen.add(Thread.getAllStackTraces().keySet().stream()
                        .anyMatch(t -> t.getName().startsWith("nioproxy-loop") && t.isAlive()) ? "loops up" : "no loop");
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
                    seen.add("a client connected");
                } catch (ConnectException refused) {
                    seen.add("refused");
                } catch (java.io.IOException e) {
                    seen.add(e.toString());
                }
            });
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                assertEquals(List.of("loops up", "refused"), seen);
                s.setSoTimeout(5000);
                assertEquals("only", ProxyHarness.readLine(s.getInputStream()));
            } finally {
                proxy.close();
            }
        }
    }
}
