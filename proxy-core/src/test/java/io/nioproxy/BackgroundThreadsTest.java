package io.nioproxy;

import io.nioproxy.config.ConfigException;
import io.nioproxy.config.Settings;
import io.nioproxy.sys.Priority;
import io.nioproxy.testing.Props;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The threads beside the loops: the control and health-check threads and the JIT compilers run at
 * {@code proxy.background.nice} where Linux lets the JVM say so (JDK 22+), the loops at the default; where it cannot,
 * the balancer starts anyway and says why. The control thread wakes once per tick for all listeners. Nice values are
 * read back from {@code /proc/self/task}, as {@code top} and {@code ps} would show them to an operator.
 */
class BackgroundThreadsTest {
    @Test
    void controlAndHealthThreadsRunAtTheConfiguredNiceAndTheLoopsAtTheDefault() throws Exception {
        // only this balancer's threads: another test's balancer, still ending or left running, has its own
        java.util.Set<String> earlier = threads("nioproxy-contro", "nioproxy-health", "nioproxy-loop").keySet();
        try (ProxyHarness h = new ProxyHarness(); TcpServer echo = h.add(TcpServer.echo())) {
            Proxy proxy = h.start(Settings.BACKENDS.property(), echo.address(), Settings.WORKERS.property(), "1",
                    Settings.HEALTH_INTERVAL.property(), "100ms", Settings.BACKGROUND_NICE.property(), "5");
            // the balancer still relays, byte-exact
            byte[] sent = new byte[64 * 1024];
            new Random(11).nextBytes(sent);
            try (Socket s = ProxyHarness.connect(proxy, null)) {
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                out.write(sent);
                assertArrayEquals(sent, in.readNBytes(sent.length));
            }
            if (Priority.unavailableReason() == null) {
                // the health pool's threads start with the first check
                ProxyHarness.await("control and health threads at nice 5", Duration.ofSeconds(10), () -> {
                    Map<String, Integer> n = nices(earlier, "nioproxy-contro", "nioproxy-health");
                    return n.values().stream().allMatch(v -> v == 5)
                            && n.keySet().stream().anyMatch(k -> k.startsWith("nioproxy-contro"))
                            && n.keySet().stream().anyMatch(k -> k.startsWith("nioproxy-health"));
                });
            } else {
                Map<String, Integer> control = nices(earlier, "nioproxy-contro");
                assertFalse(control.isEmpty(), "no control thread found in /proc/self/task");
                assertTrue(control.values().stream().allMatch(v -> v == 0),
                        "without the FFM API nothing should change: " + control);
            }
            Map<String, Integer> loops = nices(earlier, "nioproxy-loop");
            assertFalse(loops.isEmpty(), "no loop thread found in /proc/self/task");
            assertTrue(loops.values().stream().allMatch(v -> v == 0), "loops must keep the default priority: " + loops);
        }
    }

    @Test
    void compilerThreadsAreLoweredOrTheStartUpLineSaysWhyNot() throws Exception {
        String line = Main.lowerCompilers(1); // 1: the rest of this test JVM hardly notices
        if (Priority.unavailableReason() == null) {
            assertTrue(line.matches("\\d+ JIT compiler threads and the control threads at nice 1"), line);
            Map<String, Integer> compilers = nices(java.util.Set.of(), "C1 CompilerThre", "C2 CompilerThre");
            assertFalse(compilers.isEmpty(), "no compiler thread found in /proc/self/task");
            assertTrue(compilers.values().stream().allMatch(v -> v >= 1), compilers.toString());
        } else {
            assertTrue(line.startsWith("background threads at default priority: needs the foreign-function API"),
                    line);
            assertTrue(Priority.lowerCurrentThread(1).contains("JDK 22+"));
        }
        assertEquals("background threads at default priority", Main.lowerCompilers(0));
    }

    @Test
    void oneControlWakeUpPerTickServesEveryListener() throws Exception {
        // only this balancer's control thread: another test's balancer, still ending or left running, has its own
        java.util.Set<String> earlier = threads("nioproxy-contro").keySet();
        try (ProxyHarness h = new ProxyHarness(); TcpServer echo = h.add(TcpServer.echo())) {
            h.start(Settings.LISTENERS.property(), "a,b,c", Settings.WORKERS.property(), "1",
                    "proxy.listener.a.listen", "127.0.0.1:0", "proxy.listener.a.backends", echo.address(),
                    "proxy.listener.b.listen", "127.0.0.1:0", "proxy.listener.b.backends", echo.address(),
                    "proxy.listener.c.listen", "127.0.0.1:0", "proxy.listener.c.backends", echo.address());
            String[] ours = new String[1];
            ProxyHarness.await("the balancer's control thread", Duration.ofSeconds(5), () -> {
                for (String t : threads("nioproxy-contro").keySet()) {
                    if (!earlier.contains(t)) {
                        ours[0] = t;
                    }
                }
                return ours[0] != null;
            });
            long before = switches(ours[0]);
            Thread.sleep(2000);
            long woke = switches(ours[0]) - before;
            // 2 s of 100 ms ticks: 20 (19-21 counted). A task per listener and kind (passive check every 100 ms,
            // reaper every 200 ms) counted 30-39 here: the executor runs tasks due together in one wake-up.
            assertTrue(woke <= 26, "the control thread woke " + woke + " times in 2 s for three listeners");
            assertTrue(woke >= 10, "the passive-check tick stopped: " + woke + " wake-ups in 2 s");
        }
    }

    @Test
    void niceOutsideZeroToNineteenIsAClearStartUpError() {
        for (String bad : new String[] {"20", "-1", "low"}) {
            ConfigException e = assertThrows(ConfigException.class, () -> Settings.from(
                    Props.of("proxy.backends", "127.0.0.1:9", "proxy.background.nice", bad)).build());
            assertTrue(e.getMessage().contains("proxy.background.nice"), e.getMessage());
        }
        assertEquals(10, Settings.from(Props.of("proxy.backends", "127.0.0.1:9")).build().backgroundNice());
    }

    /**
     * name/tid → nice value, for this process's threads whose name starts with one of {@code prefixes}, leaving out
     * those in {@code except}.
     */
    private static Map<String, Integer> nices(java.util.Set<String> except, String... prefixes) {
        Map<String, Integer> out = new HashMap<>();
        for (Map.Entry<String, String[]> t : threads(prefixes).entrySet()) {
            if (!except.contains(t.getKey())) {
                out.put(t.getKey(), Integer.parseInt(t.getValue()[16])); // field 19 of stat: nice
            }
        }
        return out;
    }

    /** Voluntary context switches (sleeps, so wake-ups) of one thread, by its {@link #threads} key (name/tid). */
    private static long switches(String key) {
        String tid = key.substring(key.lastIndexOf('/') + 1);
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/task", tid, "status"))) {
                if (line.startsWith("voluntary_ctxt_switches:")) {
                    return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("the control thread ended", e);
        }
        throw new AssertionError("no voluntary_ctxt_switches in /proc/self/task/" + tid + "/status");
    }

    /** name/tid → the fields of /proc/self/task/TID/stat after the name (index 0 is field 3, the state). */
    private static Map<String, String[]> threads(String... prefixes) {
        Map<String, String[]> out = new HashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                String stat;
                try {
                    stat = Files.readString(task.resolve("stat"));
                } catch (IOException ended) {
                    continue;
                }
                String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                for (String p : prefixes) {
                    if (name.startsWith(p)) {
                        out.put(name + "/" + task.getFileName(), stat.substring(stat.lastIndexOf(')') + 2).split(" "));
                    }
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot list /proc/self/task", e);
        }
        return out;
    }
}
