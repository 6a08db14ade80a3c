package io.nioproxy.it;

import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static io.nioproxy.testing.ProxyHarness.readLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A backend given by host name is re-resolved and every address is a backend (a Kubernetes headless Service, Consul
 * DNS). No DNS server: the child JVM resolves through a hosts file the test rewrites ({@code jdk.net.hosts.file}).
 */
class DnsDiscoveryTest {
    @Test
    void hostNameBackendFollowsItsAddresses(@TempDir Path dir) throws Exception {
        int backendPort;
        try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.2"))) {
            backendPort = free.getLocalPort();
        }
        int port = ProxyHarness.freePort();
        Path hosts = dir.resolve("hosts");
        Files.writeString(hosts, "127.0.0.2 backends.test\n");
        try (TcpServer two = TcpServer.named("at-2", new InetSocketAddress("127.0.0.2", backendPort));
             TcpServer three = TcpServer.named("at-3", new InetSocketAddress("127.0.0.3", backendPort))) {
            List<String> cmd = ChildBalancer.command(List.of("-Xmx128m", "-Djdk.net.hosts.file=" + hosts,
                    "-Dproxy.backends=backends.test:" + backendPort, "-Dproxy.listen=127.0.0.1:" + port,
                    "-Dproxy.dns.refresh=200ms", "-Dproxy.balance=round-robin"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            try {
                ChildBalancer.awaitAccepting(p, null);
                long idle = ChildBalancer.sockets(p);
                assertTrue(idle >= 1, "listening sockets (one per loop with SO_REUSEPORT): " + idle);
                assertEquals(Set.of("at-2"), reached(port, 4));

                Files.writeString(hosts, "127.0.0.3 backends.test\n");
                assertTrue(eventually(port, Set.of("at-3")), "followed the address change");

                Files.writeString(hosts, "127.0.0.2 backends.test\n127.0.0.3 backends.test\n");
                assertTrue(eventually(port, Set.of("at-2", "at-3")), "every address of the name is a backend");
                // backends that left the name took their sessions' sockets with them; nothing is left behind
                ChildBalancer.awaitSockets(p, idle, "after every client left");
            } finally {
                p.toHandle().destroy();
                assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            }
            assertEquals(0, p.exitValue());
        }
    }

    private static boolean eventually(int port, Set<String> want) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (reached(port, 6).equals(want)) {
                return true;
            }
            Thread.sleep(100);
        }
        return false;
    }

    private static Set<String> reached(int port, int connections) throws Exception {
        Set<String> names = new HashSet<>();
        for (int i = 0; i < connections; i++) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout(5000);
                String name = readLine(s.getInputStream());
                if (name != null) {
                    names.add(name);
                }
            }
        }
        return names;
    }
}
