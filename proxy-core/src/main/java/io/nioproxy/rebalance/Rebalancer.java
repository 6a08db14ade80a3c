package io.nioproxy.rebalance;

import io.nioproxy.balance.Backend;
import io.nioproxy.balance.Balancer;
import io.nioproxy.balance.BalancePolicy;
import io.nioproxy.balance.Hashing;
import io.nioproxy.config.RebalanceConfig;
import io.nioproxy.listener.Listener;
import io.nioproxy.log.Log;
import io.nioproxy.relay.LiveSessions;
import io.nioproxy.relay.LoopSnapshot;
import io.nioproxy.relay.Route;
import io.nioproxy.relay.Session;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Moves long-lived sessions of one listener (or pool) after scale-out: when a backend joins or comes back (once the
 * set has settled), or while the spread stays over the tolerance, it plans with {@link MoveSelector} and asks the
 * chosen clients to reconnect — a plain close — at a paced, jittered rate (gaps of 1 to 1.5 times {@code 1 / rate}).
 *
 * <p>Who moves. {@code source-ip}: exactly the clients whose owner in the current Maglev table differs from the backend
 * they are on (the affinity table still pins them there); the client's affinity entry is re-pointed to its owner
 * first, then every session of that client is closed together, so that a socket.io client's reconnect — polling
 * requests and upgrade alike — lands whole on the new backend. Other policies (and {@code source-ip-port}, whose
 * reconnect has a new port and so a new hash): single sessions of the most loaded backends, the most recent first;
 * the reconnect goes where the policy sends it. Never toward a backend out of rotation (down, draining, removed) or
 * over {@code backend.maxconn}; never a session still reading a header or connecting; never a client twice in a plan;
 * never more sessions than {@code rebalance.max.share} of them.
 *
 * <p>Each move is checked again when its moment comes (its target still in rotation, with room) and logged once.
 *
 * <p>Threading: ticks and moves run on the control thread; {@link #plan}, {@link #run} and {@link #stop} may be called
 * from the admin thread. All state is guarded by this object's monitor; sessions are closed by tasks on their loops.
 */
public final class Rebalancer {
    /** How often the trigger conditions are looked at (by the process's shared control tick). */
    public static final long TICK_MILLIS = 500;

    private final LiveSessions sessions;
    private final Listener listener;
    private final RebalanceConfig config;
    private final ScheduledExecutorService control;
    private final SplittableRandom random = new SplittableRandom();
    private final Map<String, AtomicLong> movedByReason = new LinkedHashMap<>();
    private final AtomicLong sessionsMoved = new AtomicLong();
    private final List<ScheduledFuture<?>> scheduled = new ArrayList<>();
    private int pending;
    private String running;
    /** The backends in rotation at the last tick (identity), to see one join or come back. */
    private Map<String, Boolean> lastRotation = Map.of();
    private long lastChangeNanos;
    private String trigger;
    private long overSinceNanos;
    private volatile double lastSpread = 1.0;

    public Rebalancer(LiveSessions sessions, Listener listener, ScheduledExecutorService control) {
        this.sessions = sessions;
        this.listener = listener;
        this.config = listener.config().rebalance();
        this.control = control;
    }

    public Listener listener() {
        return listener;
    }

    /**
     * Starts watching for triggers (when {@code rebalance=on}); the spread is measured either way. The owner calls
     * {@link #tick} every {@link #TICK_MILLIS} from the control tick it already runs: a task of its own per listener
     * would wake the control thread more often, and each wake-up may preempt a loop on its core.
     */
    public synchronized void start() {
        lastRotation = rotation();
        lastChangeNanos = System.nanoTime();
    }

    /** One planned move, for the admin API and the log. */
    public record PlannedMove(String client, String from, String to, int sessions) {
    }

    /** A plan: the spread now, the spread it aims at, and the moves. */
    public record Plan(double spread, double tolerance, List<PlannedMove> moves) {
    }

    /** Control thread, every {@link #TICK_MILLIS}: look at the triggers. */
    public synchronized void tick() {
        try {
            long now = System.nanoTime();
            lastSpread = spreadNow();
            Map<String, Boolean> rotation = rotation();
            if (!rotation.equals(lastRotation)) {
                for (Map.Entry<String, Boolean> e : rotation.entrySet()) {
                    if (e.getValue() && !lastRotation.getOrDefault(e.getKey(), false)) {
                        trigger = lastRotation.containsKey(e.getKey()) ? "backend_up" : "backend_added";
                    }
                }
                lastRotation = rotation;
                lastChangeNanos = now;
            }
            if (!config.automatic() || running != null) {
                return;
            }
            if (trigger != null) {
                if (now - lastChangeNanos >= config.settleNanos()) {
                    String why = trigger;
                    trigger = null;
                    run(why);
                }
                return;
            }
            if (config.afterNanos() > 0 && lastSpread > config.tolerance() + 1e-9
                    && now - lastChangeNanos >= config.settleNanos()) {
                if (overSinceNanos == 0) {
                    overSinceNanos = now;
                } else if (now - overSinceNanos >= config.afterNanos()) {
                    overSinceNanos = 0;
                    run("spread");
                }
            } else {
                overSinceNanos = 0;
            }
        } catch (RuntimeException e) {
            // the tick is scheduled at a fixed delay: an exception would end it, and with it every later rebalance
            Log.error("rebalance of " + listener.config().name() + " failed", e);
        }
    }

    /** Backend identity → in rotation, for every backend not removed. */
    private Map<String, Boolean> rotation() {
        Map<String, Boolean> m = new HashMap<>();
        for (Backend b : listener.backends()) {
            if (!b.removed()) {
                m.put(b.identity(), b.inRotation());
            }
        }
        return m;
    }

    /** The spread of the backends in rotation now, from their active counts (no snapshot). */
    private double spreadNow() {
        List<Backend> all = listener.backends();
        int[] active = new int[all.size()];
        int[] weight = new int[all.size()];
        boolean[] rot = new boolean[all.size()];
        for (int i = 0; i < all.size(); i++) {
            Backend b = all.get(i);
            active[i] = b.active();
            weight[i] = Math.max(1, b.weight());
            rot[i] = b.inRotation();
        }
        return MoveSelector.spread(active, weight, rot);
    }

    /** The spread of the backends in rotation, as of the last tick. */
    public double spread() {
        return lastSpread;
    }

    /** Moves planned and not yet made. */
    public synchronized int pending() {
        return pending;
    }

    /** Clients asked to reconnect per second while a rebalance runs; 0 when none does. */
    public synchronized double pace() {
        return running == null ? 0 : config.ratePerSecond();
    }

    /** Why the rebalance in progress started ({@code backend_added}, {@code backend_up}, {@code spread}, {@code admin}); null when none runs. */
    public synchronized String running() {
        return running;
    }

    /** Clients moved so far, by the reason of their rebalance. */
    public synchronized Map<String, Long> moved() {
        Map<String, Long> m = new LinkedHashMap<>();
        movedByReason.forEach((k, v) -> m.put(k, v.get()));
        return m;
    }

    /** Sessions closed by moves so far. */
    public long sessionsMoved() {
        return sessionsMoved.get();
    }

    /** The plan a rebalance would make now (a dry run: nothing moves). Any thread but a loop. */
    public synchronized Plan plan() {
        return build().plan;
    }

    /**
     * Starts a rebalance now (replacing one in progress), whatever the triggers say. Any thread but a loop.
     *
     * @param reason why, for the metrics and the log
     */
    public synchronized Plan run(String reason) {
        cancel();
        Built b = build();
        if (b.plan.moves().isEmpty()) {
            return b.plan;
        }
        running = reason;
        pending = b.plan.moves().size();
        Log.info(listener.config().name() + ": rebalance (" + reason + "): spread " + fmt(b.plan.spread())
                + " over tolerance " + fmt(config.tolerance()) + "; moving " + pending + " clients at "
                + fmt(config.ratePerSecond()) + "/s");
        queue.clear();
        for (int i = 0; i < b.plan.moves().size(); i++) {
            queue.add(new Queued(b.plan.moves().get(i), b.targets.get(i)));
        }
        scheduleNext(reason, random.nextDouble() * 1000.0 / config.ratePerSecond());
        return b.plan;
    }

    /** Stops the rebalance in progress; returns how many planned moves were dropped. */
    public synchronized int stop() {
        int dropped = pending;
        if (running != null) {
            Log.info(listener.config().name() + ": rebalance stopped, " + dropped + " moves dropped");
        }
        cancel();
        return dropped;
    }

    private void cancel() {
        for (ScheduledFuture<?> f : scheduled) {
            f.cancel(false);
        }
        scheduled.clear();
        queue.clear();
        pending = 0;
        running = null;
    }

    /** A planned move and the backend object it goes to. */
    private record Queued(PlannedMove move, Backend to) {
    }

    private final java.util.ArrayDeque<Queued> queue = new java.util.ArrayDeque<>();

    /**
     * The next move after {@code delayMillis}. Moves are chained, each scheduled once the previous one has closed its
     * sessions, after a gap drawn between 1 and 1.5 times {@code 1 / rate}: never more than the rate in any second,
     * jittered so that reconnects do not arrive on a beat, and a slow move never makes the next ones bunch up.
     */
    private void scheduleNext(String reason, double delayMillis) {
        scheduled.removeIf(java.util.concurrent.Future::isDone);
        scheduled.add(control.schedule(() -> {
            Queued q;
            synchronized (this) {
                if (running == null || !reason.equals(running) || (q = queue.poll()) == null) {
                    return; // stopped, replaced by a newer rebalance, or done
                }
            }
            move(q.move(), q.to(), reason);
            synchronized (this) {
                if (reason.equals(running) && !queue.isEmpty()) {
                    scheduleNext(reason, (1.0 + random.nextDouble() * 0.5) * 1000.0 / config.ratePerSecond());
                }
            }
        }, Math.round(delayMillis * 1000), TimeUnit.MICROSECONDS));
    }

    /** A plan with the backend objects its moves go to. */
    private record Built(Plan plan, List<Backend> targets) {
    }

    private Built build() {
        Route route = listener.route();
        List<Backend> backends = listener.backends();
        Map<String, Integer> index = new HashMap<>();
        int n = backends.size();
        int[] active = new int[n];
        int[] weight = new int[n];
        boolean[] rot = new boolean[n];
        for (int i = 0; i < n; i++) {
            Backend b = backends.get(i);
            index.put(b.identity(), i);
            active[i] = b.active();
            weight[i] = Math.max(1, b.weight());
            rot[i] = b.inRotation();
        }
        BalancePolicy policy = listener.config().balance();
        boolean byClient = policy == BalancePolicy.SOURCE_IP;
        Map<String, int[]> perClient = new LinkedHashMap<>(); // client -> [backend index, sessions]
        Map<String, Long> youngest = new HashMap<>();
        int total = 0;
        // only relaying sessions: never one still reading a header or connecting
        for (LoopSnapshot snap : sessions.snapshot(true, s -> s.route() == route && s.relaying())) {
            for (LoopSnapshot.SessionRow r : snap.sessions) {
                Integer from = r.backend() == null ? null : index.get(r.backend());
                if (from == null) {
                    continue;
                }
                total++;
                String client = byClient ? hostOf(r.client()) : r.client();
                int[] c = perClient.computeIfAbsent(client, k -> new int[] {from, 0});
                c[1]++;
                youngest.merge(client, r.startedNanos(), Math::max);
            }
        }
        List<MoveSelector.Candidate> candidates = new ArrayList<>();
        for (Map.Entry<String, int[]> e : perClient.entrySet()) {
            int target = -1;
            if (byClient) {
                Backend owner = ownerOf(e.getKey(), route.balancer());
                Integer t = owner == null ? null : index.get(owner.identity());
                if (t == null || t == e.getValue()[0]) {
                    continue; // already where the table sends it: it has no reason to move
                }
                target = t;
            }
            candidates.add(new MoveSelector.Candidate(e.getKey(), e.getValue()[0], e.getValue()[1],
                    youngest.get(e.getKey()), target));
        }
        double spread = MoveSelector.spread(active, weight, rot);
        int maxSessions = (int) Math.floor(total * config.maxShare());
        List<MoveSelector.Move> moves = MoveSelector.plan(
                new MoveSelector.Backends(active, weight, rot, listener.config().protection().backendMaxConn()),
                candidates, config.tolerance(), Math.max(1, maxSessions));
        List<PlannedMove> planned = new ArrayList<>();
        List<Backend> targets = new ArrayList<>();
        for (MoveSelector.Move m : moves) {
            planned.add(new PlannedMove(m.client(), backends.get(m.from()).identity(), backends.get(m.to()).identity(),
                    m.sessions()));
            targets.add(backends.get(m.to()));
        }
        return new Built(new Plan(spread, config.tolerance(), planned), targets);
    }

    /** The backend the current Maglev table gives the client address (ignoring the affinity table). */
    private static Backend ownerOf(String host, Balancer balancer) {
        try {
            return balancer.hashOwner(Hashing.clientHash(InetAddress.getByName(host), -1));
        } catch (UnknownHostException e) {
            return null; // an address literal always parses
        }
    }

    /** The host of {@code host:port} or {@code [v6]:port}, as an address literal. */
    static String hostOf(String client) {
        int colon = client.lastIndexOf(':');
        String host = colon < 0 ? client : client.substring(0, colon);
        return host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
    }

    /** Control thread: one move's moment came. It counts as done (pending) once its sessions are closed. */
    private void move(PlannedMove m, Backend to, String reason) {
        try {
            moveNow(m, to, reason);
        } finally {
            synchronized (this) {
                if (reason.equals(running) && --pending == 0) {
                    running = null;
                }
            }
        }
    }

    private void moveNow(PlannedMove m, Backend to, String reason) {
        try {
            int max = listener.config().protection().backendMaxConn();
            if (!to.inRotation() || (max > 0 && to.active() + m.sessions() > max)) {
                Log.info(listener.config().name() + ": rebalance skipped client " + m.client() + ": "
                        + to.identity() + " is " + (to.inRotation() ? "full" : "out of rotation") + " now");
                return;
            }
            Route route = listener.route();
            boolean byClient = listener.config().balance() == BalancePolicy.SOURCE_IP;
            InetAddress address = InetAddress.getByName(byClient ? m.client() : hostOf(m.client()));
            if (byClient && route.balancer().affinity() != null) {
                // first the affinity entry, then the close: the reconnect must find the new backend remembered
                route.balancer().affinity().record(Hashing.clientHash(address, -1), to, System.nanoTime());
            }
            int closed = sessions.closeSessions(s -> s.route() == route && s.relaying()
                    && s.backend() != null && s.backend().identity().equals(m.from())
                    && (byClient ? s.clientAddress().getAddress().equals(address)
                    : Backend.identityOf(s.clientAddress()).equals(m.client())), Session.CloseReason.REBALANCED);
            if (closed > 0) {
                synchronized (this) {
                    movedByReason.computeIfAbsent(reason, k -> new AtomicLong()).incrementAndGet();
                }
                sessionsMoved.addAndGet(closed);
                Log.info(listener.config().name() + ": rebalance (" + reason + ") moved client " + m.client() + ": "
                        + closed + " sessions from " + m.from() + " to " + m.to());
            }
        } catch (UnknownHostException | RuntimeException e) {
            Log.error("rebalance move of " + m.client() + " failed", e);
        }
    }

    private static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.2f", v);
    }
}
