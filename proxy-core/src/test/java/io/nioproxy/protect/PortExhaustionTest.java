package io.nioproxy.protect;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Out of local ports toward a backend, for real: a network namespace made by the test, with ten ephemeral ports
 * ({@code net.ipv4.ip_local_port_range} is per namespace), runs {@link PortExhaustionScenario}. The connects that
 * find no port close their clients at once, are counted as local failures, and are not blamed on the backend
 * (passive health keeps it up); once ports free up, clients are served again.
 */
class PortExhaustionTest {
    static int run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    @Test
    void runningOutOfPortsTowardABackendIsALocalFailureWithoutHarm() throws Exception {
        String ns = "nioproxy-ports-" + ProcessHandle.current().pid();
        boolean canNetns = new File("/usr/sbin/ip").canExecute() || new File("/sbin/ip").canExecute();
        if (!canNetns || run("ip", "netns", "add", ns) != 0) {
            if (System.getenv("CI") != null) {
                throw new AssertionError("network namespaces are required in CI (root and iproute2)");
            }
            Assumptions.abort("cannot create a network namespace here (needs root and iproute2)");
        }
        try {
            assertEquals(0, run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"));
            assertEquals(0, run("ip", "netns", "exec", ns, "sysctl", "-w", "net.ipv4.ip_local_port_range=40000 40009"));
            String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
            List<String> cmd = new java.util.ArrayList<>(List.of("ip", "netns", "exec", ns, java, "-Xmx128m"));
            cmd.addAll(io.nioproxy.testing.ChildBalancer.nativeAccess());
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), PortExhaustionScenario.class.getName()));
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            String result = out.lines().filter(l -> l.startsWith("served=")).findFirst().orElse(out);
            System.out.println("port exhaustion: " + result);
            assertEquals(0, p.exitValue(), result);
            assertTrue(result.contains("served=10 refused=10 localFailures=10 backendFailures=0 backendState=up"), result);
            assertTrue(result.matches(".* socketsAfter=(\\d+)/\\1$"), "sockets back to the listeners: " + result);
        } finally {
            run("ip", "netns", "del", ns);
        }
    }
}
