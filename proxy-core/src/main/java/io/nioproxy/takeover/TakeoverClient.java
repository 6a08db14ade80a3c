package io.nioproxy.takeover;

import io.nioproxy.balance.Backend;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.config.ProxyConfig;
import io.nioproxy.listener.Listener;
import io.nioproxy.log.Log;
import io.nioproxy.relay.Handoff;
import io.nioproxy.relay.Route;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The new process's side of a take-over ({@code --takeover}): asks the process serving {@code proxy.takeover.socket}
 * for its listening sockets, then — once this process accepts on them ({@link #bound}) — lets it go. Until then the
 * running process serves as before; if this process fails to start, {@link #abort} (or its exit) leaves it so.
 *
 * <p>Threading: the start-up thread.
 */
public final class TakeoverClient implements AutoCloseable {
    private final HandoverSocket socket;
    private final Path path;
    private final Map<String, int[]> sockets;
    private final int version;
    private boolean done;

    private TakeoverClient(HandoverSocket socket, Path path, Map<String, int[]> sockets, int version) {
        this.socket = socket;
        this.path = path;
        this.sockets = sockets;
        this.version = version;
    }

    /**
     * Receives the running process's listening sockets for the listeners of {@code config}.
     *
     * @throws ConfigException when the take-over cannot be made (nothing has moved; the running process is untouched)
     */
    public static TakeoverClient receive(ProxyConfig config) {
        String key = "proxy.takeover.socket";
        if (config.takeoverSocket() == null) {
            throw new ConfigException("--takeover needs " + key + "=PATH: the socket the running nioproxy serves");
        }
        String why = Takeover.unavailable(config);
        if (why != null) {
            throw new ConfigException("take-over refused: " + why);
        }
        Path path = Path.of(config.takeoverSocket());
        HandoverSocket s;
        try {
            s = HandoverSocket.connect(path, Takeover.TIMEOUT_MILLIS);
        } catch (IOException e) {
            throw ConfigException.bad(key, config.takeoverSocket(), "take-over failed: " + e.getMessage());
        }
        try {
            s.send("hello " + Takeover.MIN_VERSION + " " + Takeover.VERSION);
            HandoverSocket.Message ok = s.receive();
            refusedOrClosed(ok, "hello");
            int version = Takeover.agree(versionIn(ok.text()), versionIn(ok.text()));
            if (version < 0) {
                throw new IOException("the running process answered '" + ok.text() + "' to hello");
            }
            StringBuilder listeners = new StringBuilder("listeners");
            for (ListenerConfig l : config.listeners()) {
                if (!l.pool()) {
                    listeners.append(' ').append(l.name()).append('=').append(l.listen());
                }
            }
            s.send(listeners.toString());
            Map<String, int[]> received = new LinkedHashMap<>();
            while (true) {
                HandoverSocket.Message m = s.receive();
                refusedOrClosed(m, "listeners");
                if (m.text().equals("end")) {
                    break;
                }
                received.put(m.text().substring("listener ".length()), m.fds());
            }
            int count = received.values().stream().mapToInt(a -> a.length).sum();
            Log.info("take-over: received " + count + " listening sockets of " + received.size() + " listeners from "
                    + path);
            return new TakeoverClient(s, path, received, version);
        } catch (IOException | ConfigException e) {
            s.close();
            if (e instanceof ConfigException ce) {
                throw ce;
            }
            throw ConfigException.bad(key, config.takeoverSocket(), "take-over failed: " + e.getMessage());
        }
    }

    /** The N of {@code ok N}; -1 for anything else. */
    private static int versionIn(String ok) {
        try {
            return ok.startsWith("ok ") ? Integer.parseInt(ok.substring(3)) : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static void refusedOrClosed(HandoverSocket.Message m, String step) {
        if (m == null) {
            throw new ConfigException("take-over failed: the running process closed the connection after '" + step + "'");
        }
        if (m.text().startsWith("refused ")) {
            throw new ConfigException("take-over refused by the running process: " + m.text().substring(8)
                    + "; it goes on serving");
        }
    }

    /** The listening sockets of each listener, by name (listeners the running process did not have are absent). */
    public Map<String, int[]> sockets() {
        return sockets;
    }

    /**
     * This process accepts on the sockets: the running one stops accepting and sends, one message each, the drains in
     * progress, its clients' affinity entries, its sessions (adopted through {@code sessions}) and its counters, by
     * listener or pool name; then it gives up the path and drains what stayed.
     */
    public void bound(List<Listener> listeners, Handoff.Sessions sessions) throws IOException {
        Map<String, Listener> byName = new HashMap<>();
        listeners.forEach(l -> byName.put(l.config().name(), l));
        socket.send("bound");
        Received got = new Received();
        HandoverSocket.Message m;
        while ((m = socket.receive()) != null && !m.text().equals("released")) {
            // "VERB NAME" (or "sessions") on the first line, the items on the lines after it
            String[] lines = m.text().split("\n");
            int space = lines[0].indexOf(' ');
            String verb = space < 0 ? lines[0] : lines[0].substring(0, space);
            Listener l = space < 0 ? null : byName.get(lines[0].substring(space + 1));
            switch (verb) {
                case "drain" -> applyDrains(l, lines);
                case "affinity" -> got.importAffinity(l, lines);
                case "sessions" -> socket.send(got.adopt(sessions, lines, m.fds()));
                case "counters" -> got.importCounters(l, lines);
                case "backends" -> got.importBackends(l, lines);
                default -> throw new IOException("unexpected from the previous process: " + lines[0]);
            }
        }
        if (m != null && sessions != null) {
            sessions.carryEnded(got.bytesByRoute, got.bytesByBackend);
        }
        if (m == null) {
            done = true;
            socket.close();
            throw new IOException("the previous process did not release " + path);
        }
        Log.info("take-over: complete; " + got.adopted + " sessions (" + got.bytes + " bytes relayed so far) and "
                + got.carried + " affinity entries carried" + (got.dropped == 0 ? ""
                : " (" + got.dropped + " not: their backend or listener is gone, or affinity is off here)")
                + "; the previous process stopped accepting and drains its sessions");
    }

    /**
     * After {@link #bound}: this process is the service's main one now (the service manager was told, when there is
     * one); the previous process may exit.
     */
    public void ready() {
        if (done) {
            return;
        }
        done = true;
        try {
            if (version >= Takeover.VERSION_2) {
                socket.send("ready");
            }
        } catch (IOException e) {
            Log.warn("take-over: could not tell the previous process this one is ready: " + e.getMessage());
        }
        socket.close();
    }

    /** {@code IDENTITY MILLIS-LEFT|-} lines: backends an operator is draining go on draining here. */
    private static void applyDrains(Listener l, String[] lines) {
        for (int k = 1; l != null && k < lines.length; k++) {
            String[] f = lines[k].split(" ");
            long deadline = f[1].equals("-") ? Long.MAX_VALUE : System.nanoTime() + Long.parseLong(f[1]) * 1_000_000;
            if (l.registry().drain(f[0], deadline)) {
                Log.info("take-over: backend " + f[0] + " of " + l.config().name()
                        + " goes on draining, as in the previous process");
            }
        }
    }

    /** What came over, for the closing log line, and the ended sessions' bytes to count as this process's. */
    private static final class Received {
        private final long now = System.nanoTime();
        final Map<Route, long[]> bytesByRoute = new IdentityHashMap<>();
        final Map<Backend, long[]> bytesByBackend = new IdentityHashMap<>();
        int carried;
        int dropped;
        int adopted;
        long bytes;

        /** {@code counters NAME}, its words, then (version 2) {@code histogram connect|duration BASE64} lines. */
        void importCounters(Listener l, String[] lines) {
            if (l == null || lines.length < 2) {
                return; // a listener or pool the new configuration does not have: its counts end with it
            }
            l.route().importCounters(lines[1]);
            bytesByRoute.put(l.route(), bytes(Handoff.counters(lines[1])));
            for (int k = 2; k < lines.length; k++) {
                String[] f = lines[k].split(" ");
                if (f.length != 3 || !f[0].equals("histogram")) {
                    continue;
                }
                try {
                    switch (f[1]) {
                        case "connect" -> l.route().connectTimes().importFrom(f[2]);
                        case "duration" -> l.route().sessionDurations().importFrom(f[2]);
                        default -> {
                            // a histogram this version does not keep
                        }
                    }
                } catch (IllegalArgumentException e) {
                    Log.warn("take-over: the " + f[1] + " histogram of " + l.config().name() + " not carried: "
                            + e.getMessage());
                }
            }
        }

        /** {@code backends NAME}, then {@code IDENTITY KEY=N ...} per backend. */
        void importBackends(Listener l, String[] lines) {
            for (int k = 1; l != null && k < lines.length; k++) {
                int space = lines[k].indexOf(' ');
                Backend b = space < 0 ? null : l.registry().find(lines[k].substring(0, space));
                if (b != null) { // a backend the new configuration dropped: its counts end with it
                    Map<String, Long> c = Handoff.counters(lines[k].substring(space + 1));
                    b.importCounters(c);
                    bytesByBackend.put(b, bytes(c));
                }
            }
        }

        private static long[] bytes(Map<String, Long> c) {
            return new long[] {c.getOrDefault("bytes_up", 0L), c.getOrDefault("bytes_down", 0L)};
        }

        void importAffinity(Listener l, String[] lines) {
            var table = l == null ? null : l.registry().affinity();
            for (int i = 1; i < lines.length; i++) {
                if (table != null && table.importLine(lines[i], l.registry()::find, now)) {
                    carried++;
                } else {
                    dropped++;
                }
            }
        }

        /**
         * One line per session, two descriptors each; returns the reply naming the sessions not adopted. A line that
         * does not parse ends the take-over: this message's descriptors are closed here, and the previous process,
         * which sees the conversation end, resumes every session it still has.
         */
        String adopt(Handoff.Sessions sessions, String[] lines, int[] fds) throws IOException {
            List<Handoff.Row> rows = new java.util.ArrayList<>();
            try {
                if (fds.length != 2 * (lines.length - 1)) {
                    throw new IllegalArgumentException(fds.length + " descriptors for " + (lines.length - 1)
                            + " sessions");
                }
                for (int k = 1; k < lines.length; k++) {
                    rows.add(Handoff.Row.parse(lines[k]));
                }
            } catch (IllegalArgumentException e) {
                io.nioproxy.sys.Linux.Calls sys = io.nioproxy.sys.Linux.calls();
                for (int fd : fds) {
                    sys.close(fd);
                }
                throw new IOException("a bad sessions message from the previous process: " + e.getMessage());
            }
            java.util.Set<Long> refused = new java.util.HashSet<>(sessions.adopt(rows, fds));
            StringBuilder rejected = new StringBuilder();
            for (Handoff.Row row : rows) {
                if (refused.contains(row.id())) {
                    rejected.append(rejected.length() == 0 ? "" : ",").append(row.id());
                } else {
                    adopted++;
                    bytes += row.up() + row.down();
                }
            }
            return "adopted " + rows.size() + " rejected" + (rejected.length() == 0 ? "" : " " + rejected);
        }
    }

    /** This process could not start: the running one goes on serving; the received sockets are closed here. */
    public void abort(String why) {
        if (done) {
            return;
        }
        done = true;
        try {
            socket.send("abort " + why);
        } catch (IOException e) {
            // it learns the same from the closed connection
        }
        socket.close(); // the received sockets close with this process, which is exiting
    }

    @Override
    public void close() {
        if (!done) {
            abort("closed");
        }
    }
}
