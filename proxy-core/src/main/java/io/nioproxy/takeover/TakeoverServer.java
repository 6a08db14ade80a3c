package io.nioproxy.takeover;

import io.nioproxy.listener.Listener;
import io.nioproxy.log.Log;
import io.nioproxy.relay.Handoff;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The running process's side of a take-over ({@code proxy.takeover.socket}): waits on the Unix-domain socket for a
 * new process, hands it every listener's listening sockets, and once the new process accepts on them stops accepting
 * itself and runs {@code handedOver} (the command line's paced shutdown). A take-over that fails at any step —
 * refused, a new process that dies or says nothing in time — leaves this process serving as before.
 *
 * <p>Threading: one thread of its own ({@code nioproxy-takeover}), blocked in accept or in the conversation.
 */
public final class TakeoverServer implements Runnable, AutoCloseable {
    private final List<Listener> listeners;
    private final Handoff.Sessions sessions;
    private final Runnable stopAccepting;
    private final Runnable resumeAccepting;
    private final Path path;
    private final Runnable handedOver;
    private final HandoverSocket server;
    private final Thread thread;
    private volatile boolean closed;

    private TakeoverServer(List<Listener> listeners, Handoff.Sessions sessions, Runnable stopAccepting,
                           Runnable resumeAccepting, Path path, Runnable handedOver, HandoverSocket server) {
        this.resumeAccepting = resumeAccepting;
        this.listeners = List.copyOf(listeners);
        this.sessions = sessions;
        this.stopAccepting = stopAccepting;
        this.path = path;
        this.handedOver = handedOver;
        this.server = server;
        this.thread = new Thread(this, "nioproxy-takeover");
        this.thread.setDaemon(true);
    }

    /**
     * Serves take-overs at {@code path}. A file left there by a process that is gone is replaced; a process that
     * still answers there is not: this one then refuses to serve the path.
     */
    public static TakeoverServer start(List<Listener> listeners, Handoff.Sessions sessions, Runnable stopAccepting,
                                       Runnable resumeAccepting, Path path, Runnable handedOver) throws IOException {
        if (Files.exists(path)) {
            try (HandoverSocket live = HandoverSocket.connect(path, 1000)) {
                throw new IOException("another nioproxy serves take-overs at " + path + "; start this one with"
                        + " --takeover to take over from it");
            } catch (IOException gone) {
                if (gone.getMessage().startsWith("another")) {
                    throw gone;
                }
                Files.delete(path); // left by a process that exited without removing it
            }
        }
        TakeoverServer s = new TakeoverServer(listeners, sessions, stopAccepting, resumeAccepting, path, handedOver,
                HandoverSocket.listen(path));
        s.thread.start();
        Log.info("take-over: a new process may take over through " + path);
        return s;
    }

    @Override
    public void run() {
        while (!closed) {
            HandoverSocket c;
            try {
                c = server.accept(Takeover.TIMEOUT_MILLIS);
            } catch (IOException e) {
                if (!closed) {
                    Log.warn("take-over: " + e.getMessage() + "; no more take-overs through " + path);
                }
                return;
            }
            try (c) {
                if (serve(c)) {
                    return;
                }
            } catch (IOException | RuntimeException e) {
                Log.warn("take-over failed (" + e.getMessage() + "); this process goes on serving");
            }
        }
    }

    /** One conversation; true when the listeners were handed over. */
    private boolean serve(HandoverSocket c) throws IOException {
        HandoverSocket.Message hello = expect(c, "hello");
        String[] v = hello.text().split(" ");
        int min = v.length == 3 ? Integer.parseInt(v[1]) : -1;
        int max = v.length == 3 ? Integer.parseInt(v[2]) : -1;
        int version = Takeover.agree(min, max);
        if (version < 0) {
            return refuse(c, "protocol versions " + Takeover.MIN_VERSION + " to " + Takeover.VERSION + " here, the new"
                    + " process speaks " + min + " to " + max);
        }
        c.send("ok " + version);
        Map<String, String> wanted = new LinkedHashMap<>();
        for (String pair : expect(c, "listeners").text().substring("listeners".length()).trim().split(" ")) {
            if (!pair.isEmpty()) {
                wanted.put(pair.substring(0, pair.indexOf('=')), pair.substring(pair.indexOf('=') + 1));
            }
        }
        // every check before anything moves
        List<Listener> handed = new ArrayList<>();
        for (Listener l : listeners) {
            String name = l.config().name();
            if (l.config().pool() || !wanted.containsKey(name)) {
                continue;
            }
            String here = l.config().listen().toString();
            if (!here.equals(wanted.get(name))) {
                return refuse(c, "listener " + name + " listens on " + here + " here and on " + wanted.get(name)
                        + " in the new configuration: a take-over cannot move a listening address (stop this process"
                        + " first, or keep the address)");
            }
            handed.add(l);
        }
        int sockets = 0;
        for (Listener l : handed) {
            int[] fds = l.listenFds();
            c.send("listener " + l.config().name(), fds);
            sockets += fds.length;
        }
        c.send("end");
        Log.info("take-over: handed " + sockets + " listening sockets of " + handed.size() + " listeners to the new"
                + " process; waiting for it to accept");
        HandoverSocket.Message bound = c.receive();
        if (bound == null || !bound.text().equals("bound")) {
            Log.warn("take-over aborted by the new process (" + (bound == null ? "it went away" : bound.text())
                    + "); this process goes on serving");
            return false;
        }
        // the new process accepts on the same sockets: stop accepting here, then carry what this process remembers
        // of its clients (no entry is added here from now on), give up the path, drain
        stopAccepting.run();
        int remembered;
        int moved;
        try {
            sendDrains(c, handed);
            remembered = sendAffinity(c, handed);
            moved = moveSessions(c);
            sendCounters(c, version); // after the sessions moved: what they did here is counted
        } catch (IOException | RuntimeException e) {
            // the new process went away after it took the sockets: they may be gone with it, so listen afresh
            Log.warn("take-over failed after the new process took the listening sockets (" + e.getMessage()
                    + "); sessions not handed over stay here; listening again");
            resumeAccepting.run();
            return false;
        }
        closed = true;
        server.close();
        Files.deleteIfExists(path);
        c.send("released");
        Log.info("take-over: carried " + remembered + " affinity entries and " + moved + " sessions");
        if (version >= Takeover.VERSION_2) {
            // the new process tells the service manager it is the main process before this one may exit
            HandoverSocket.Message ready = c.receive();
            if (ready == null || !ready.text().equals("ready")) {
                Log.warn("take-over: the new process did not say it is ready ("
                        + (ready == null ? "it went away" : ready.text()) + ")");
            }
        }
        Log.info("take-over: the new process accepts; this process stopped accepting and drains its "
                + "sessions");
        handedOver.run();
        return true;
    }

    /**
     * The drains in progress (an operator's action the new configuration cannot know of): {@code drain LISTENER}
     * then {@code IDENTITY MILLIS-LEFT|-} lines.
     */
    private static void sendDrains(HandoverSocket c, List<Listener> handed) throws IOException {
        long now = System.nanoTime();
        for (Listener l : handed) {
            StringBuilder sb = new StringBuilder("drain " + l.config().name());
            for (io.nioproxy.balance.Backend b : l.registry().backends()) {
                if (!b.removed() && b.state() == io.nioproxy.balance.Backend.State.DRAINING) {
                    long d = b.drainDeadlineNanos();
                    sb.append('\n').append(b.identity()).append(' ')
                            .append(d == Long.MAX_VALUE ? "-" : String.valueOf(Math.max(0, (d - now) / 1_000_000)));
                }
            }
            if (sb.indexOf("\n") > 0) {
                c.send(sb.toString());
            }
        }
    }

    /** Each listener's affinity table. */
    private static int sendAffinity(HandoverSocket c, List<Listener> handed) throws IOException {
        int n = 0;
        long now = System.nanoTime();
        for (Listener l : handed) {
            if (l.registry().affinity() != null) {
                n += sendLines(c, "affinity " + l.config().name(), l.registry().affinity().export(now));
            }
        }
        return n;
    }

    /**
     * Each listener's and pool's counters: {@code counters NAME}, its words (with the bytes of sessions that ended
     * here), and from version 2 its two latency histograms; then, from version 2, {@code backends NAME} with each
     * backend's counters and ended bytes. Sessions still here go on counting here.
     */
    private void sendCounters(HandoverSocket c, int version) throws IOException {
        List<io.nioproxy.relay.LoopSnapshot> snaps = sessions != null && version >= Takeover.VERSION_2
                ? sessions.snapshot(false, null) : List.of();
        Map<io.nioproxy.relay.Route, long[]> byRoute = io.nioproxy.relay.LoopSnapshot.sum(snaps, s -> s.endedByRoute);
        Map<io.nioproxy.balance.Backend, long[]> byBackend =
                io.nioproxy.relay.LoopSnapshot.sum(snaps, s -> s.endedByBackend);
        for (Listener l : listeners) {
            String name = l.config().name();
            if (version < Takeover.VERSION_2) {
                c.send("counters " + name + "\n" + l.route().exportCounters());
                continue;
            }
            long[] bytes = byRoute.getOrDefault(l.route(), new long[2]);
            c.send("counters " + name + "\n" + l.route().exportCounters() + " bytes_up=" + bytes[0] + " bytes_down="
                    + bytes[1] + "\nhistogram connect " + l.route().connectTimes().export()
                    + "\nhistogram duration " + l.route().sessionDurations().export());
            List<String> lines = new ArrayList<>();
            for (io.nioproxy.balance.Backend b : l.registry().backends()) {
                long[] v = byBackend.getOrDefault(b, new long[2]);
                lines.add(b.identity() + " " + b.exportCounters() + " bytes_up=" + v[0] + " bytes_down=" + v[1]);
            }
            sendLines(c, "backends " + name, lines);
        }
    }

    /** {@code head}, then the lines, in messages of at most {@value #CHUNK} bytes; returns how many lines. */
    private static int sendLines(HandoverSocket c, String head, Iterable<String> lines) throws IOException {
        int n = 0;
        StringBuilder sb = new StringBuilder();
        for (String line : lines) {
            if (sb.length() + line.length() + 1 > CHUNK) {
                c.send(head + "\n" + sb);
                sb.setLength(0);
            }
            sb.append(line).append('\n');
            n++;
        }
        if (sb.length() > 0) {
            c.send(head + "\n" + sb);
        }
        return n;
    }

    /**
     * Moves the sessions that can move (relaying, nothing buffered here), in rounds: each round freezes what is
     * movable on every loop, sends each session's line and both descriptors ({@value #SESSIONS_PER_MESSAGE} per
     * message), and lets go of those the new process adopted; the rest resume here. A session busy in one round is
     * usually movable in the next; what is left after {@value #EMPTY_ROUNDS} rounds with nothing to move, or after
     * the window, stays and is drained here.
     */
    private int moveSessions(HandoverSocket c) throws IOException {
        if (sessions == null) {
            return 0;
        }
        int moved = 0;
        int empty = 0;
        long started = System.nanoTime();
        long longestPause = 0;
        long deadline = started + MOVE_WINDOW_NANOS;
        while (empty < EMPTY_ROUNDS && System.nanoTime() - deadline < 0) {
            long frozenAt = System.nanoTime();
            List<Handoff.Frozen> batch = sessions.freeze(FREEZE_PER_LOOP);
            if (batch.isEmpty()) {
                empty++;
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
                continue;
            }
            empty = 0;
            for (int i = 0; i < batch.size(); i += SESSIONS_PER_MESSAGE) {
                List<Handoff.Frozen> part = batch.subList(i, Math.min(batch.size(), i + SESSIONS_PER_MESSAGE));
                StringBuilder text = new StringBuilder("sessions");
                int[] fds = new int[2 * part.size()];
                for (int k = 0; k < part.size(); k++) {
                    text.append('\n').append(part.get(k).row().line());
                    fds[2 * k] = part.get(k).clientFd();
                    fds[2 * k + 1] = part.get(k).backendFd();
                }
                HandoverSocket.Message reply;
                try {
                    c.send(text.toString(), fds);
                    reply = c.receive();
                } catch (IOException e) {
                    sessions.resume(batch.subList(i, batch.size()));
                    throw e;
                }
                if (reply == null || !reply.text().startsWith("adopted ")) {
                    sessions.resume(batch.subList(i, batch.size()));
                    throw new IOException("the new process stopped adopting sessions ("
                            + (reply == null ? "it went away" : reply.text()) + ")");
                }
                java.util.Set<Long> rejected = new java.util.HashSet<>();
                String[] words = reply.text().split(" ");
                if (words.length > 3) {
                    for (String id : words[3].split(",")) {
                        rejected.add(Long.parseLong(id));
                    }
                }
                List<Handoff.Frozen> taken = new ArrayList<>();
                List<Handoff.Frozen> kept = new ArrayList<>();
                for (Handoff.Frozen f : part) {
                    (rejected.contains(f.row().id()) ? kept : taken).add(f);
                }
                // a session's pause: from its freeze to the reply that the new process relays it
                longestPause = Math.max(longestPause, System.nanoTime() - frozenAt);
                sessions.handedOver(taken);
                sessions.resume(kept);
                moved += taken.size();
            }
        }
        if (moved > 0) {
            Log.info(String.format(java.util.Locale.ROOT, "take-over: moved %d sessions in %.1f ms; the longest any"
                    + " one was frozen: %.1f ms", moved, (System.nanoTime() - started) / 1e6, longestPause / 1e6));
        }
        return moved;
    }

    private static final int SESSIONS_PER_MESSAGE = 120; // two descriptors each, under the 253 of one message
    private static final int FREEZE_PER_LOOP = 2_000;
    private static final int EMPTY_ROUNDS = 5;
    private static final long MOVE_WINDOW_NANOS = 10_000_000_000L;

    /** Bytes of lines per message (a sequenced packet must fit the socket's send buffer whole). */
    private static final int CHUNK = 32 * 1024;

    /** Says no before anything moves; this process goes on as it was. Returns false (nothing handed over). */
    private static boolean refuse(HandoverSocket c, String why) throws IOException {
        c.send("refused " + why);
        Log.warn("take-over refused: " + why + "; this process goes on serving");
        return false;
    }

    private static HandoverSocket.Message expect(HandoverSocket c, String verb) throws IOException {
        HandoverSocket.Message m = c.receive();
        if (m == null) {
            throw new IOException("the new process went away");
        }
        if (!m.text().startsWith(verb)) {
            throw new IOException("expected '" + verb + "', got '" + m.text() + "'");
        }
        return m;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            server.shutdown();
            server.close();
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                // a path that cannot be removed is replaced by the next process to serve it
            }
        }
    }
}
