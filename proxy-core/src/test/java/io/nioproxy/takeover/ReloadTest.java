package io.nioproxy.takeover;

import io.nioproxy.sys.Linux;
import io.nioproxy.testing.ChildBalancer;
import io.nioproxy.testing.ConnectingClient;
import io.nioproxy.testing.FakeServiceManager;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A reload as systemd makes one ({@code Type=notify}, {@code NotifyAccess=all},
 * {@code ExecReload=/bin/kill -HUP $MAINPID}), with this test as the service manager: it holds the notify socket,
 * sends the signal and checks what the unit's main process would be. The balancer says {@code READY=1} once it
 * accepts; on {@code SIGHUP} it starts its successor from its own command line, which re-reads the edited settings
 * file, takes over, and says {@code MAINPID=} with its own PID before the old process exits 0. Sessions open across
 * two reloads echo on; a client connecting without pause is never refused. A reload with a broken settings file
 * changes nothing: the successor exits 2, no new main PID is announced, the running process serves on.
 */
class ReloadTest {
    private Path dir;
    private Path settings;
    private int port;
    private TcpServer echoA;
    private TcpServer echoB;
    private final List<Process> children = new ArrayList<>();
    private final List<Long> pids = new ArrayList<>();
    private Path log;

    @BeforeEach
    void setUp(@TempDir Path tmp) throws IOException {
        dir = tmp;
        settings = dir.resolve("nioproxy.properties");
        log = dir.resolve("balancer.log");
        port = ProxyHarness.freePort();
        echoA = TcpServer.echo();
        echoB = TcpServer.echo();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (long pid : pids) { // successors are the balancer's children, not this JVM's
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        echoA.close();
        echoB.close();
    }

    private void writeSettings(String backends, String extra) throws IOException {
        Files.writeString(settings, String.join("\n",
                "proxy.listen=127.0.0.1:" + port,
                "proxy.backends=" + backends,
                "proxy.takeover.socket=" + dir.resolve("takeover.sock"),
                "proxy.warmup=0",
                "proxy.workers=2",
                "proxy.shutdown.timeout=10s",
                "proxy.shutdown.pace=1s",
                extra, ""));
    }

    /**
     * The balancer, writing to a file as to the journal: its successors inherit the descriptor and write there too
     * (a pipe to this JVM would not do: the JDK closes a child's pipe once that child exits, and its successors'
     * lines after that would be lost).
     */
    private Process start(String notifySocket) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(ChildBalancer.command(List.of("-Dproxy.config=" + settings)));
        pb.redirectErrorStream(true);
        pb.redirectOutput(log.toFile());
        if (notifySocket != null) {
            pb.environment().put("NOTIFY_SOCKET", notifySocket);
        }
        Process p = pb.start();
        children.add(p);
        ProxyHarness.await("the balancer accepting", Duration.ofSeconds(60), () -> logged("accepting on"));
        return p;
    }

    private boolean logged(String text) {
        try {
            return Files.readString(log).contains(text);
        } catch (IOException e) {
            return false;
        }
    }

    private String logText() throws IOException {
        return Files.readString(log);
    }

    private static void hangUp(long pid) throws Exception {
        Process kill = new ProcessBuilder("kill", "-HUP", String.valueOf(pid)).start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, kill.exitValue(), "kill -HUP " + pid);
    }

    /** The next notification naming a new main process: its PID. */
    private static long newMainPid(FakeServiceManager manager) throws IOException {
        String n = manager.receive(60_000);
        assertNotNull(n, "the successor announces itself within a minute");
        assertTrue(n.contains("READY=1") && n.startsWith("MAINPID="), n);
        return Long.parseLong(n.substring("MAINPID=".length(), n.indexOf('\n')));
    }

    @Test
    void aReloadBySighupHandsTheUnitToTheSuccessorAndABrokenOneChangesNothing() throws Exception {
        assumeTrue(Linux.AVAILABLE, "a take-over passes sockets: epoll mode (JDK 22+)");
        writeSettings(echoA.address(), "");
        try (FakeServiceManager manager = new FakeServiceManager(dir.resolve("notify.sock"))) {
            Process first = start(manager.socket());
            assertEquals("READY=1", manager.receive(30_000), "ready once it accepts");
            List<Socket> sessions = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                Socket s = new Socket("127.0.0.1", port);
                s.setSoTimeout(5000);
                sessions.add(s);
                TakeoverTest.echoes(s, "before " + i);
            }
            try (ConnectingClient client = new ConnectingClient(port)) {
                // reload 1: a second backend, round-robin and a per-listener limit in the edited file
                writeSettings(echoA.address() + "," + echoB.address(), "proxy.balance=round-robin\nproxy.maxconn=5000");
                hangUp(first.pid());
                long second = newMainPid(manager);
                pids.add(second);
                assertNotEquals(first.pid(), second);
                assertTrue(first.waitFor(30, TimeUnit.SECONDS), "the old main process exits after the take-over");
                assertEquals(0, first.exitValue());
                Optional<ProcessHandle> successor = ProcessHandle.of(second);
                assertTrue(successor.isPresent() && successor.get().isAlive(), "the new main process serves");
                assertTrue(successor.get().info().arguments().map(a -> List.of(a).contains("--takeover"))
                        .orElse(false), "started from the old one's command line with --takeover");
                for (int i = 0; i < sessions.size(); i++) {
                    TakeoverTest.echoes(sessions.get(i), "after reload 1, " + i);
                }
                for (int i = 0; i < 20; i++) { // the new file's second backend takes new clients
                    try (Socket s = new Socket("127.0.0.1", port)) {
                        s.setSoTimeout(5000);
                        TakeoverTest.echoes(s, "new " + i);
                    }
                }
                ProxyHarness.await("a client on the added backend", Duration.ofSeconds(10),
                        () -> echoB.accepted() > 0);

                // reload 2, broken: the successor refuses the file; nothing changes
                writeSettings(echoA.address(), "proxy.balance=nearest");
                hangUp(second);
                ProxyHarness.await("the refused reload logged", Duration.ofSeconds(60),
                        () -> logged("exited with status 2 without taking over"));
                assertTrue(logText().lines().anyMatch(l -> l.contains("proxy.balance") && l.contains("nearest")),
                        "the successor says which key is wrong: " + logText());
                assertNull(manager.receive(500), "no new main process announced");
                assertTrue(ProcessHandle.of(second).map(ProcessHandle::isAlive).orElse(false), "it serves on");
                for (int i = 0; i < sessions.size(); i++) {
                    TakeoverTest.echoes(sessions.get(i), "after the broken reload, " + i);
                }

                // reload 3, mended
                writeSettings(echoA.address() + "," + echoB.address(), "");
                hangUp(second);
                long third = newMainPid(manager);
                pids.add(third);
                assertNotEquals(second, third);
                ProxyHarness.await("the second main process exits", Duration.ofSeconds(30),
                        () -> ProcessHandle.of(second).map(h -> !h.isAlive()).orElse(true));
                for (int i = 0; i < sessions.size(); i++) {
                    TakeoverTest.echoes(sessions.get(i), "after reload 3, " + i);
                    sessions.get(i).close();
                }
                long before = client.ok.get();
                ProxyHarness.await("new connections through the third process", Duration.ofSeconds(10),
                        () -> client.ok.get() > before + 50);
                assertEquals(0, client.failed.get(), "no connection refused or cut across three reloads: "
                        + client.lastError.get());
            }
        }
    }

    @Test
    void sighupWithoutATakeOverSocketIsRefusedAndStopsNothing() throws Exception {
        Files.writeString(settings, String.join("\n", "proxy.listen=127.0.0.1:" + port,
                "proxy.backends=" + echoA.address(), "proxy.warmup=0", ""));
        Process p = start(null);
        hangUp(p.pid());
        ProxyHarness.await("the refusal logged", Duration.ofSeconds(20),
                () -> logged("SIGHUP: no reload: proxy.takeover.socket is not set"));
        assertTrue(p.isAlive(), "SIGHUP no longer ends the JVM");
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(5000);
            TakeoverTest.echoes(s, "still here");
        }
    }
}
