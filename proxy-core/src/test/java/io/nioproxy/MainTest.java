package io.nioproxy;

import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The command line as a user meets it, in a child JVM: bad settings end start-up with one clear line and exit
 * status 2; a good start logs the effective settings, relays, and stops on SIGTERM with status 0; {@code --demo}
 * shows affinity on its own.
 */
class MainTest {
    record Result(int exit, String stdout, String stderr) {
    }

    static ProcessBuilder java(List<String> props, String... args) {
        List<String> jvm = new ArrayList<>();
        jvm.add("-Xmx128m");
        jvm.addAll(props);
        return new ProcessBuilder(io.nioproxy.testing.ChildBalancer.command(jvm, args));
    }

    static Result run(List<String> props, String... args) throws Exception {
        Process p = java(props, args).start();
        p.getOutputStream().close();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "process ended");
        return new Result(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    static void assertOneLineError(Result r, String prefix) {
        assertEquals(2, r.exit(), r.stderr());
        String err = r.stderr().strip();
        assertEquals(1, err.lines().count(), "one line: " + err);
        assertTrue(err.startsWith("nioproxy: " + prefix), err);
    }

    @Test
    void checkValidatesLikeAStartAndStartsNothing() throws Exception {
        int port = io.nioproxy.testing.ProxyHarness.freePort();
        Result ok = run(List.of("-Dproxy.backends=127.0.0.1:1", "-Dproxy.listen=127.0.0.1:" + port), "--check");
        assertEquals(0, ok.exit(), ok.stderr());
        assertTrue(ok.stdout().startsWith("nioproxy: configuration is valid"), ok.stdout());
        assertTrue(ok.stdout().contains(" listen=127.0.0.1:" + port), "the effective settings: " + ok.stdout());
        // nothing was bound: the port is still free
        try (java.net.ServerSocket s = new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
            assertEquals(port, s.getLocalPort());
        }
        Result bad = run(List.of("-Dproxy.backends=127.0.0.1:1", "-Dproxy.balance=fastest"), "--check");
        assertOneLineError(bad, "proxy.balance=fastest: expected source-ip, source-ip-port, round-robin or least-conn");
        Result sni = run(List.of("-Dproxy.sni.routes=a.example.com=web", "-Dproxy.sni.default=web"), "--check");
        assertOneLineError(sni, "proxy.sni.routes=a.example.com=web: pool 'web' is not named in proxy.pools");
    }

    @Test
    void versionSaysWhichBuildAndRuntime() throws Exception {
        Result r = run(List.of(), "--version");
        assertEquals(0, r.exit(), r.stderr());
        String line = r.stdout().strip();
        assertTrue(line.matches("nioproxy \\d+\\.\\d+\\.\\d+(-SNAPSHOT)? \\(Java " + Runtime.version().feature() + ".*"), line);
        assertTrue(Runtime.version().feature() >= 22 ? line.contains("I/O: nio, epoll") : line.contains("epoll unavailable"),
                line);
    }

    @Test
    void missingBackendsSaysHowToGiveThemAndMentionsDemo() throws Exception {
        Result r = run(List.of());
        assertOneLineError(r, "proxy.backends is not set");
        assertTrue(r.stderr().contains("--demo"));
    }

    @Test
    void unknownKeyMalformedAddressAndEmptyListAreRefused() throws Exception {
        assertOneLineError(run(List.of("-Dproxy.backends=127.0.0.1:1", "-Dproxy.balanse=round-robin")),
                "proxy.balanse=round-robin: unknown key");
        assertOneLineError(run(List.of("-Dproxy.backends=127.0.0.1")), "proxy.backends=127.0.0.1: expected HOST:PORT");
        assertOneLineError(run(List.of("-Dproxy.backends=")), "proxy.backends is empty");
        assertOneLineError(run(List.of(), "--frobnicate"), "unknown argument '--frobnicate'");
    }

    @Test
    void badBackendsFileAtStartIsRefusedNamingTheKeyAndLine(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path f = dir.resolve("backends");
        java.nio.file.Files.writeString(f, "127.0.0.1:1\nnot-an-address\n");
        Result r = run(List.of("-Dproxy.backends.file=" + f, "-Dproxy.listen=127.0.0.1:0"));
        assertOneLineError(r, "proxy.backends.file=" + f + ": " + f + " line 2=not-an-address");
    }

    @Test
    void portAlreadyInUseIsRefusedNamingTheKey() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            String listen = "127.0.0.1:" + taken.getLocalPort();
            for (String accept : new String[] {"reuseport", "acceptor"}) {
                Result r = run(List.of("-Dproxy.backends=127.0.0.1:1", "-Dproxy.listen=" + listen,
                        "-Dproxy.workers=2", "-Dproxy.accept=" + accept));
                assertOneLineError(r, "proxy.listen=" + listen + ": cannot listen there");
            }
        }
    }

    @Test
    void runsRelaysAndStopsCleanlyOnSigterm() throws Exception {
        int port = ProxyHarness.freePort();
        try (TcpServer backend = TcpServer.named("only")) {
            Process p = java(List.of("-Xlog:gc", "-Dproxy.backends=" + backend.address(),
                    "-Dproxy.listen=127.0.0.1:" + port, "-Dproxy.idle.timeout=1h")).redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            List<String> log = new ArrayList<>();
            String line;
            while ((line = out.readLine()) != null) {
                log.add(line);
                if (line.contains("accepting on")) {
                    break;
                }
            }
            String all = String.join("\n", log);
            assertTrue(all.matches("(?s).*nioproxy started \\(warm-up \\d+ rounds, \\d+ round trips, \\d+ connections and \\d+ empty polls in .*"), all);
            assertTrue(all.contains("): workers="), all);
            assertTrue(all.contains("idle.timeout=1h"), "effective settings logged once at start: " + all);
            // the start-up garbage is collected, and the long-lived state made old, before clients are let in
            // (Proxy.start runs the collection before binding: ProxyStartTest)
            assertTrue(all.contains("Pause Full (System.gc())"), all);
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout(5000);
                assertEquals("only", ProxyHarness.readLine(s.getInputStream()));
            }
            java.util.concurrent.CompletableFuture<String> tail = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> String.join("\n", out.lines().toList()));
            p.toHandle().destroy(); // SIGTERM, leaving our end of its output open (Process.destroy closes it)
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), "a SIGTERM stop exits 0");
            String rest = tail.get(10, TimeUnit.SECONDS);
            assertTrue(rest.contains("nioproxy stopped"), rest);
        }
    }

    @Test
    void demoShowsEachClientAddressStickingToOneBackend() throws Exception {
        Process p = java(List.of("-Dproxy.listen=127.0.0.1:0"), "--demo").redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            Pattern sample = Pattern.compile("client (127\\.0\\.0\\.\\d+)\\s+-> (\\S+), again -> (\\S+)");
            Set<String> backends = new HashSet<>();
            int samples = 0;
            String line;
            boolean hint = false;
            while ((line = out.readLine()) != null) {
                Matcher m = sample.matcher(line);
                if (m.find()) {
                    samples++;
                    assertEquals(m.group(2), m.group(3), line);
                    assertTrue(m.group(2).startsWith("backend-"), line);
                    backends.add(m.group(2));
                }
                if (line.contains("curl --interface")) {
                    hint = true;
                }
                if (line.contains("Ctrl-C")) {
                    break;
                }
            }
            assertEquals(8, samples);
            assertTrue(hint, "says how to try it with curl");
            assertTrue(backends.size() >= 2, "eight client addresses reach more than one backend: " + backends);
        } finally {
            p.destroy();
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        }
        assertEquals(0, p.exitValue());
    }
}
