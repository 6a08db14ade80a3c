package io.nioproxy.relay;

import io.nioproxy.balance.Backend;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Sessions moved by a take-over, established, with their sockets: what travels beside the two descriptors of each
 * ({@link Row}), a session frozen on its loop while it travels ({@link Frozen}), and what the process that wires the
 * loops offers a take-over ({@link Sessions}).
 *
 * <p>Only a session relaying both ways with no byte read and not yet written moves (see {@code Session#transferable}):
 * its bytes in flight are in the kernel's socket buffers, which move with the sockets, so nothing is lost, repeated or
 * reordered. Others finish their phase here, or stay and are drained.
 */
public final class Handoff {
    private Handoff() {
    }

    /**
     * {@code KEY=N} words separated by spaces, as a take-over's counters travel: a word that is not one (an unknown
     * future form) is skipped, so an older process reads what it knows of a newer one's line.
     */
    public static Map<String, Long> counters(String words) {
        Map<String, Long> out = new HashMap<>();
        for (String w : words.trim().split(" ")) {
            int eq = w.indexOf('=');
            if (eq > 0) {
                try {
                    out.put(w.substring(0, eq), Long.parseLong(w.substring(eq + 1)));
                } catch (NumberFormatException e) {
                    // not a count
                }
            }
        }
        return out;
    }

    /**
     * One session as it travels: a text line beside its two descriptors.
     *
     * @param ageNanos how long it has been open
     */
    public record Row(long id, String front, String route, String backend, InetSocketAddress client, String serverName,
                      long clientHash, long ageNanos, long up, long down) {

        /** {@code id front route backend client-ip client-port server-name|- hash age-ms up down} */
        public String line() {
            return id + " " + front + " " + route + " " + backend + " " + client.getAddress().getHostAddress() + " "
                    + client.getPort() + " " + (serverName == null ? "-" : serverName) + " " + clientHash + " "
                    + ageNanos / 1_000_000 + " " + up + " " + down;
        }

        /** @throws IllegalArgumentException when the line is not one of {@link #line} */
        public static Row parse(String line) {
            String[] f = line.split(" ");
            if (f.length != 11) {
                throw new IllegalArgumentException("not a session line: " + line);
            }
            try {
                return new Row(Long.parseLong(f[0]), f[1], f[2], f[3],
                        new InetSocketAddress(InetAddress.getByName(f[4]), Integer.parseInt(f[5])),
                        f[6].equals("-") ? null : f[6], Long.parseLong(f[7]), Long.parseLong(f[8]) * 1_000_000,
                        Long.parseLong(f[9]), Long.parseLong(f[10]));
            } catch (NumberFormatException | UnknownHostException e) { // an address literal never looks up a name
                throw new IllegalArgumentException("not a session line: " + line, e);
            }
        }
    }

    /** A session frozen on its loop for a take-over, with its descriptors. */
    public static final class Frozen {
        final Session session;
        final SessionTable table;
        private final Row row;
        private final int clientFd;
        private final int backendFd;

        Frozen(Session session, SessionTable table, Row row, int clientFd, int backendFd) {
            this.session = session;
            this.table = table;
            this.row = row;
            this.clientFd = clientFd;
            this.backendFd = backendFd;
        }

        public Row row() {
            return row;
        }

        public int clientFd() {
            return clientFd;
        }

        public int backendFd() {
            return backendFd;
        }

        /** The loop the session lives on. */
        public int loop() {
            return table.loop().index();
        }
    }

    /** What a take-over asks of the running balancer's loops. Any thread but a loop's; each call waits for the loops. */
    public interface Sessions extends LiveSessions {
        /** Freezes up to {@code maxPerLoop} movable sessions on every loop and returns them. */
        List<Frozen> freeze(int maxPerLoop);

        /** The new process relays these now: let go of them here. */
        void handedOver(List<Frozen> sessions);

        /** The new process did not take these: relay on here. */
        void resume(List<Frozen> sessions);

        /**
         * New process: relays the sessions of one message from the previous one, each on its two sockets (row
         * {@code k}'s are {@code fds[2k]} and {@code fds[2k + 1]}). Returns the ids of those not adopted — this process
         * has no listener, pool or backend of those names, or could not register them — whose descriptors are closed
         * here (never the connection): the previous process relays them on.
         */
        List<Long> adopt(List<Row> rows, int[] fds);

        /**
         * New process: the bytes of sessions that ended in the previous one, [up, down] per route and per backend of
         * this process, counted here as if they had ended here (so the byte counters go on from where they were).
         */
        void carryEnded(Map<Route, long[]> byRoute, Map<Backend, long[]> byBackend);
    }
}
