package io.nioproxy.testing;

import io.nioproxy.Main;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Runs the balancer's real command line in a child JVM (its own descriptors, signals and exit status). */
public final class ChildBalancer {
    private ChildBalancer() {
    }

    /** {@code java [jvmArgs] -cp <test classpath> io.nioproxy.Main [args]}. */
    public static List<String> command(List<String> jvmArgs, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(javaBinary());
        cmd.addAll(nativeAccess());
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * What the jar's manifest ({@code Enable-Native-Access}) gives {@code java -jar}, for a {@code -cp} launch on JDK
     * 22+: epoll mode calls Linux through the FFM API, which otherwise prints a warning on the first call.
     */
    public static List<String> nativeAccess() {
        return Runtime.version().feature() >= 22 ? List.of("--enable-native-access=ALL-UNNAMED") : List.of();
    }

    public static String javaBinary() {
        return System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    }

    /** TCP socket descriptors the child holds (see {@link ProxyHarness#openSockets(String, java.util.Set)}). */
    public static long sockets(Process p) {
        return ProxyHarness.openSockets("/proc/" + p.pid(), java.util.Set.of());
    }

    /**
     * Waits until the child holds exactly {@code expected} TCP sockets: no slack, since a socket more is a leak and a
     * socket fewer a session cut. Fails with the last count.
     */
    public static void awaitSockets(Process p, long expected, String what) {
        long[] last = {-1};
        try {
            ProxyHarness.await(what + ": " + expected + " sockets in the balancer", java.time.Duration.ofSeconds(10),
                    () -> (last[0] = sockets(p)) == expected);
        } catch (AssertionError e) {
            throw new AssertionError(what + ": the balancer holds " + last[0] + " TCP sockets, expected " + expected, e);
        }
    }

    /**
     * Reads the child's merged output up to the line saying it accepts clients, then drains the rest on a daemon
     * thread into {@code rest} (may be null) so the child never blocks on a full pipe.
     */
    public static void awaitAccepting(Process p, List<String> rest) throws IOException {
        BufferedReader log = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = log.readLine()) != null && !line.contains("accepting on")) {
            // start-up lines
        }
        if (line == null) {
            throw new IOException("the balancer exited before accepting");
        }
        Thread drain = new Thread(() -> {
            try {
                log.lines().forEach(l -> {
                    if (rest != null) {
                        synchronized (rest) {
                            rest.add(l);
                        }
                    }
                });
            } catch (java.io.UncheckedIOException e) {
                // the test closed the child's streams when it ended it: nothing more to read
            }
        }, "child-balancer-log");
        drain.setDaemon(true);
        drain.start();
    }
}
