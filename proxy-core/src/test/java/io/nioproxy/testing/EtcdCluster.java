package io.nioproxy.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real etcd cluster on loopback (Debian's etcd-server, installed by .ci/run): N members in processes of their own,
 * each killable and restartable, and etcdctl to drive it as an operator would.
 *
 * <p>Threading: the test's thread.
 */
public final class EtcdCluster implements AutoCloseable {
    public static final String ETCD = "/usr/bin/etcd";
    public static final String ETCDCTL = "/usr/bin/etcdctl";

    private final Path dir;
    private final int[] clientPorts;
    private final int[] peerPorts;
    private final Process[] members;
    private final String initialCluster;

    /** Starts {@code n} members and waits until the cluster has a leader. */
    public EtcdCluster(Path dir, int n) throws IOException, InterruptedException {
        this.dir = dir;
        this.clientPorts = new int[n];
        this.peerPorts = new int[n];
        this.members = new Process[n];
        StringBuilder cluster = new StringBuilder();
        for (int i = 0; i < n; i++) {
            clientPorts[i] = ProxyHarness.freePort();
            peerPorts[i] = ProxyHarness.freePort();
            cluster.append(i == 0 ? "" : ",").append("m").append(i).append("=http://127.0.0.1:").append(peerPorts[i]);
        }
        this.initialCluster = cluster.toString();
        for (int i = 0; i < n; i++) {
            start(i);
        }
        awaitWritable(Duration.ofSeconds(30));
    }

    /** Starts (or restarts, on its old data) member {@code i}. */
    public void start(int i) throws IOException {
        Path data = dir.resolve("m" + i);
        Files.createDirectories(data);
        ProcessBuilder pb = new ProcessBuilder(ETCD, "--name", "m" + i, "--data-dir", data.toString(),
                "--listen-client-urls", "http://127.0.0.1:" + clientPorts[i],
                "--advertise-client-urls", "http://127.0.0.1:" + clientPorts[i],
                "--listen-peer-urls", "http://127.0.0.1:" + peerPorts[i],
                "--initial-advertise-peer-urls", "http://127.0.0.1:" + peerPorts[i],
                "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "nioproxy-test",
                // loopback: elect quickly, so a test of a lost quorum does not wait out default timeouts
                "--heartbeat-interval", "50", "--election-timeout", "500");
        pb.redirectErrorStream(true);
        pb.redirectOutput(dir.resolve("m" + i + ".log").toFile());
        members[i] = pb.start();
    }

    /** Kills member {@code i} (SIGKILL: no goodbye to its peers). */
    public void kill(int i) throws InterruptedException {
        members[i].destroyForcibly();
        members[i].waitFor(10, TimeUnit.SECONDS);
    }

    /** {@code 127.0.0.1:PORT} of member {@code i}. */
    public String endpoint(int i) {
        return "127.0.0.1:" + clientPorts[i];
    }

    /** Every member's endpoint, comma-separated (for proxy.etcd.endpoints and etcdctl). */
    public String endpoints() {
        List<String> all = new ArrayList<>();
        for (int i = 0; i < clientPorts.length; i++) {
            all.add(endpoint(i));
        }
        return String.join(",", all);
    }

    /**
     * Runs etcdctl against the members that are running; returns its output, or fails the test. A request that
     * meets a leader election (right after a member was killed, a proposal can be dropped and time out) is sent again,
     * for up to 30 s: the test's changes are puts and deletes, which may be repeated.
     */
    public String etcdctl(String... args) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                return etcdctlOnce(args);
            } catch (AssertionError e) {
                String m = String.valueOf(e.getMessage());
                boolean election = m.contains("deadline exceeded") || m.contains("leader changed")
                        || m.contains("no leader") || m.contains("timed out");
                if (!election || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    private String etcdctlOnce(String... args) throws IOException, InterruptedException {
        List<String> endpoints = new ArrayList<>();
        for (int i = 0; i < members.length; i++) {
            if (members[i] != null && members[i].isAlive()) {
                endpoints.add(endpoint(i));
            }
        }
        return etcdctlAt(endpoints, args);
    }

    /** etcdctl against member {@code i} alone; fails the test when it fails. */
    public String etcdctlAt(int i, String... args) throws IOException, InterruptedException {
        return etcdctlAt(List.of(endpoint(i)), args);
    }

    private String etcdctlAt(List<String> endpoints, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(ETCDCTL, "--endpoints", String.join(",", endpoints),
                "--command-timeout", "5s"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("ETCDCTL_API", "3");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("etcdctl " + String.join(" ", args) + " failed: " + out + "\n" + logs());
        }
        return out;
    }

    /** etcdctl with {@code -w json}: the revision in the reply's header. */
    public long revisionOf(String... args) throws IOException, InterruptedException {
        String[] all = new String[args.length + 2];
        all[0] = "-w";
        all[1] = "json";
        System.arraycopy(args, 0, all, 2, args.length);
        String out = etcdctl(all);
        Matcher m = Pattern.compile("\"revision\":(\\d+)").matcher(out);
        if (!m.find()) {
            throw new AssertionError("no revision in etcdctl's answer: " + out);
        }
        return Long.parseLong(m.group(1));
    }

    /** Which members run, and the end of each one's log: what a failing test prints. */
    public String logs() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < members.length; i++) {
            sb.append("member ").append(i).append(members[i] != null && members[i].isAlive() ? " running" : " stopped")
                    .append(", client ").append(endpoint(i)).append(", peer ").append(peerPorts[i]).append(":\n");
            try {
                List<String> lines = Files.readAllLines(dir.resolve("m" + i + ".log"));
                for (String line : lines.subList(Math.max(0, lines.size() - 8), lines.size())) {
                    sb.append("  ").append(line).append('\n');
                }
            } catch (IOException e) {
                sb.append("  (no log: ").append(e.getMessage()).append(")\n");
            }
        }
        return sb.toString();
    }

    /** Waits until a write succeeds (the cluster has a leader and a quorum). */
    public void awaitWritable(Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        AssertionError last = null;
        while (System.nanoTime() < deadline) {
            try {
                etcdctlOnce("put", "/nioproxy-test/ready", "1");
                return;
            } catch (AssertionError | IOException e) {
                last = e instanceof AssertionError a ? a : new AssertionError(e);
                Thread.sleep(100);
            }
        }
        throw new AssertionError("etcd cluster not writable within " + within, last);
    }

    @Override
    public void close() throws InterruptedException {
        for (Process p : members) {
            if (p != null) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
