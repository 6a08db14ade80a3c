package io.nioproxy.balance;

import io.nioproxy.log.Log;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The backends of one listener and every change to them: health (up/down), operator actions (add, drain, remove,
 * re-weight), the backends file and DNS. Each change publishes a new {@link BackendSet} to the {@link Balancer}, so
 * new connections see it at once; sessions already open are never touched by a change of the set itself (only by
 * an explicit close policy: drain deadline, close-on-down).
 *
 * <p>Membership and health are kept apart, so that balancer instances that share a membership agree: for the hash
 * policies the Maglev table is built from the <em>members</em> (every backend neither draining nor removed, up or
 * down), and a backend this instance's health checks see down is skipped at pick time for the client's next choice.
 * Instances whose checks disagree about one backend then route only that backend's clients differently. The
 * membership's {@link #generation} (etcd's revision, or a local count of changes) and {@link #digest} say which
 * membership an instance has.
 *
 * <p>Threading: control threads only (health checks, admin, file and DNS watchers), serialised by this object's
 * monitor. The event loops never call in here: they read the published snapshot and each backend's volatile state.
 */
public final class BackendRegistry {
    private final String listener;
    private final Balancer balancer;
    private final AffinityTable affinity;
    private final List<Backend> backends = new ArrayList<>();
    private volatile Consumer<Backend> sessionCloser = b -> { };
    /** Which membership this is: etcd's revision of the pool's last change, or (without etcd) a count of changes. */
    private volatile long generation;
    private boolean externalGeneration;
    private volatile long digest = digestOf(List.of());

    public BackendRegistry(String listener, Balancer balancer, AffinityTable affinity) {
        this.listener = listener;
        this.balancer = balancer;
        this.affinity = affinity;
    }

    /** How to close every session of a backend (installed by the running proxy: a task to every loop). */
    public void sessionCloser(Consumer<Backend> closer) {
        this.sessionCloser = closer;
    }

    public Balancer balancer() {
        return balancer;
    }

    /** Null when affinity is off (or the policy does not hash the client address). */
    public AffinityTable affinity() {
        return affinity;
    }

    public String listener() {
        return listener;
    }

    /** A copy of the backends, in the order they were added. */
    public synchronized List<Backend> backends() {
        return List.copyOf(backends);
    }

    public synchronized Backend find(String identity) {
        for (Backend b : backends) {
            if (b.identity().equals(identity)) {
                return b;
            }
        }
        return null;
    }

    /**
     * Adds a backend, or — when one with the same identity exists — gives it this weight and brings it back if it
     * was draining or leaving.
     *
     * @return the backend
     */
    public synchronized Backend add(InetSocketAddress address, int weight, String source) {
        return add(address, weight, source, true);
    }

    /** The configured backends at start: added like any other, without a log line each (the start-up line lists them). */
    public synchronized Backend seed(InetSocketAddress address, int weight, String source) {
        return add(address, weight, source, false);
    }

    private Backend add(InetSocketAddress address, int weight, String source, boolean log) {
        String id = Backend.identityOf(address);
        Backend b = find(id);
        if (b == null) {
            b = new Backend(address, weight, source);
            backends.add(b);
            if (log) {
                b.joined(System.nanoTime()); // added while running: slow start applies
                Log.info("listener " + listener + ": backend " + id + " added (weight " + weight + ")");
            }
        } else {
            b.weight(weight);
            if (b.removed() || b.state() == Backend.State.DRAINING) {
                b.state(Backend.State.UP);
                b.drainDeadlineNanos = Long.MAX_VALUE;
                b.joined(System.nanoTime());
                Log.info("listener " + listener + ": backend " + id + " back in rotation");
            }
            b.restore();
        }
        publish();
        return b;
    }

    /** Sets a backend's weight; the hash table and round-robin sequence are rebuilt. */
    public synchronized boolean reweight(String identity, int weight) {
        Backend b = find(identity);
        if (b == null) {
            return false;
        }
        b.weight(weight);
        Log.info("listener " + listener + ": backend " + identity + " weight " + weight);
        publish();
        return true;
    }

    /**
     * Drains a backend: no new clients from now on; sessions run until they end or, past {@code deadlineNanos}
     * ({@link System#nanoTime} terms, {@link Long#MAX_VALUE} for none), are closed.
     */
    public synchronized boolean drain(String identity, long deadlineNanos) {
        Backend b = find(identity);
        if (b == null) {
            return false;
        }
        b.state(Backend.State.DRAINING);
        b.drainDeadlineNanos = deadlineNanos;
        Log.info("listener " + listener + ": backend " + identity + " draining (" + b.active() + " sessions)");
        publish();
        return true;
    }

    /**
     * Removes a backend: no new clients; it leaves the list once its last session has ended (sessions are not
     * cut: removing a server from the file or the admin API never drops a connection).
     */
    public synchronized boolean remove(String identity) {
        Backend b = find(identity);
        if (b == null) {
            return false;
        }
        b.markRemoved();
        if (affinity != null) {
            affinity.forget(b);
        }
        Log.info("listener " + listener + ": backend " + identity + " removed (" + b.active() + " sessions finish first)");
        publish();
        reap();
        return true;
    }

    /** Health: the backend failed (checks or passive); it leaves the table, its clients move to their next choice. */
    public synchronized void markDown(Backend b, String reason) {
        if (b.state() != Backend.State.UP) {
            return;
        }
        b.state(Backend.State.DOWN);
        Log.warn("listener " + listener + ": backend " + b.identity() + " is DOWN (" + reason + ")");
        publish();
    }

    /** Health: the backend recovered; new connections reach it again. */
    public synchronized void markUp(Backend b, String reason) {
        if (b.state() != Backend.State.DOWN) {
            return;
        }
        b.state(Backend.State.UP);
        b.resetPassive();
        b.joined(System.nanoTime());
        Log.info("listener " + listener + ": backend " + b.identity() + " is UP (" + reason + ")");
        publish();
    }

    /** Closes every session of {@code b} now (close-on-down policy, drain deadline). */
    public void closeSessions(Backend b) {
        sessionCloser.accept(b);
    }

    /** Drops removed backends whose sessions have all ended; closes drained sessions past their deadline. */
    public synchronized void reap(long nowNanos) {
        for (Backend b : backends) {
            if (b.state() == Backend.State.DRAINING && b.active() > 0 && nowNanos - b.drainDeadlineNanos >= 0
                    && b.drainDeadlineNanos != Long.MAX_VALUE) {
                Log.info("listener " + listener + ": backend " + b.identity() + " drain deadline: closing "
                        + b.active() + " sessions");
                b.drainDeadlineNanos = Long.MAX_VALUE;
                sessionCloser.accept(b);
            }
        }
        reap();
    }

    private void reap() {
        backends.removeIf(b -> b.removed() && b.active() == 0);
    }

    /**
     * Sets the generation from the membership store (etcd's revision); from then on, local changes no longer count
     * it up.
     */
    public synchronized void generation(long g) {
        externalGeneration = true;
        generation = g;
    }

    /** Which membership this is (see the class comment); 0 before any. */
    public long generation() {
        return generation;
    }

    /**
     * A 48-bit digest of the membership: each member's identity, weight and whether it drains — not health. Two
     * instances with the same digest build the same hash table (48 bits: printed exactly as a Prometheus sample).
     */
    public long digest() {
        return digest;
    }

    static long digestOf(List<Backend> members) {
        List<String> lines = new ArrayList<>();
        for (Backend b : members) {
            lines.add(b.identity() + " " + b.weight() + (b.state() == Backend.State.DRAINING ? " draining" : ""));
        }
        java.util.Collections.sort(lines);
        StringBuilder text = new StringBuilder();
        for (String line : lines) {
            text.append(line).append('\n');
        }
        return Hashing.fnv1a(text.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8), 0) >>> 16;
    }

    /**
     * Rebuilds the balancer's snapshot from the current states and weights. The hash policies get the members, so
     * that their table does not depend on this instance's health checks; the others get the backends in rotation.
     * Caller holds the monitor.
     */
    private void publish() {
        List<Backend> rotation = new ArrayList<>();
        List<Backend> members = new ArrayList<>();
        for (Backend b : backends) {
            if (b.inRotation()) {
                rotation.add(b);
            }
            if (!b.removed() && b.state() != Backend.State.DRAINING) {
                members.add(b);
            }
        }
        long d = digestOf(members);
        if (d != digest && !externalGeneration) {
            generation++;
        }
        digest = d;
        balancer.update(balancer.policy().hashed() ? members : rotation);
    }
}
