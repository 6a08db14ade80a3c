package io.nioproxy;

import io.nioproxy.admin.AdminServer;
import io.nioproxy.balance.Backend;
import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.buffer.BufferPool;
import io.nioproxy.config.Durations;
import io.nioproxy.control.BackendSource;
import io.nioproxy.control.etcd.EtcdMembership;
import io.nioproxy.control.InitialBackends;
import io.nioproxy.health.HealthChecker;
import io.nioproxy.config.Settings;
import io.nioproxy.log.AccessLog;
import io.nioproxy.log.Log;
import io.nioproxy.metrics.History;
import io.nioproxy.relay.LoopSnapshot;
import io.nioproxy.relay.Session;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.config.ProxyConfig;
import io.nioproxy.config.SniConfig;
import io.nioproxy.relay.Route;
import io.nioproxy.rebalance.Rebalancer;
import io.nioproxy.relay.SniRoutes;
import io.nioproxy.listener.Listener;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.relay.SessionTable;
import io.nioproxy.transport.Transport;
import io.nioproxy.view.ProxyView;
import io.nioproxy.sys.Priority;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.function.Predicate;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A running balancer: the event loops, their session tables, and the listeners bound on them. What {@code Main}
 * starts from the command line, and what tests and the demo start in-process.
 *
 * <p>Threading: {@link #start} and {@link #close} on one controlling thread; the read-only accessors from any
 * thread.
 */
public final class Proxy implements ProxyView, io.nioproxy.relay.Handoff.Sessions, AutoCloseable {
    private final ProxyConfig config;
    private final EventLoop[] loops;
    private final SessionTable[] tables;
    private final List<Listener> listeners = new ArrayList<>();
    /** The backends each listener started with, in listener order (its backend source watches from there). */
    private final List<List<io.nioproxy.config.BackendSpec>> initialSpecs = new ArrayList<>();
    private final ScheduledExecutorService control;
    private final ExecutorService checks;
    private final List<BackendSource> sources = new ArrayList<>();
    private final List<HealthChecker> healthCheckers = new ArrayList<>();
    private final List<Rebalancer> rebalancers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private AdminServer admin;
    private EtcdMembership membership;
    private final java.util.concurrent.atomic.AtomicInteger globalActive = new java.util.concurrent.atomic.AtomicInteger();
    private AccessLog accessLog;
    private History history;
    private volatile boolean closed;
    private final Transport transport;

    private Proxy(ProxyConfig config) {
        this.config = config;
        this.transport = transportOf(config.io());
        this.loops = new EventLoop[config.workers()];
        this.tables = new SessionTable[config.workers()];
        this.control = Executors.newSingleThreadScheduledExecutor(background("nioproxy-control", config.backgroundNice()));
        this.checks = Executors.newFixedThreadPool(4, background("nioproxy-health", config.backgroundNice()));
    }

    /**
     * Starts the loops and binds every listener.
     *
     * @throws ConfigException when a listener cannot be bound or a backend host does not resolve (nothing is left
     *                         running)
     */
    public static Proxy start(ProxyConfig config) {
        return start(config, () -> { });
    }

    /**
     * {@link #start(ProxyConfig)}, running {@code beforeListening} once what the balancer keeps for its life exists
     * (loops, buffer pools, session tables, histograms, listeners and their backend tables) and before the first
     * listener binds: the command line collects the start-up garbage there ({@link Main}).
     */
    public static Proxy start(ProxyConfig config, Runnable beforeListening) {
        return start(config, beforeListening, java.util.Map.of());
    }

    /**
     * {@link #start(ProxyConfig, Runnable)}, accepting on listening sockets received from the process this one takes
     * over from ({@code inherited}: descriptors by listener name) instead of binding those listeners anew.
     */
    public static Proxy start(ProxyConfig config, Runnable beforeListening, java.util.Map<String, int[]> inherited) {
        Proxy p = new Proxy(config);
        try {
            p.startLoops();
            for (ListenerConfig lc : config.listeners()) {
                Listener l = new Listener(lc, config.workers());
                p.initialSpecs.add(InitialBackends.seed(lc, l.registry()));
                l.route().globalLimit(p.globalActive, config.maxConnGlobal());
                p.listeners.add(l);
            }
            p.routeByName();
            if (config.etcd() != null) {
                // before the listeners bind: the first clients find the fleet's backends (or wait out the timeout)
                p.membership = new EtcdMembership(config.etcd(), p.listeners);
                p.membership.start();
            }
            beforeListening.run();
            for (Listener l : p.listeners) {
                int[] fds = inherited.get(l.config().name());
                if (fds != null && fds.length > 0) {
                    try {
                        l.adopt(p.transport, p.loops, p.tables, fds);
                    } catch (IOException e) {
                        throw ConfigException.bad(Settings.TAKEOVER_SOCKET.property(), config.takeoverSocket(),
                                "cannot accept on the sockets of listener " + l.config().name() + ": " + e.getMessage());
                    }
                } else {
                    l.bind(p.transport, p.loops, p.tables, config.acceptMode());
                }
            }
            p.startControl();
            // after the listeners: the admin endpoint's /healthz says the balancer is ready once it answers. In a
            // take-over the previous process holds the admin port until it lets go: startAdmin() then.
            if (config.admin() != null && inherited.isEmpty()) {
                p.startAdmin();
            }
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
        return p;
    }

    /** Each listener with {@code sni.routes} gets its rules resolved to the routes of its pools. */
    private void routeByName() {
        for (Listener l : listeners) {
            SniConfig sni = l.config().sni();
            if (sni != null) {
                Route fallback = sni.defaultPool() == null ? l.route() : listener(sni.defaultPool()).route();
                l.route().routeByName(new SniRoutes(sni.rules().map(pool -> listener(pool).route()), fallback,
                        sni.timeoutNanos(), sni.maxBytes()));
            }
        }
    }

    private void startLoops() {
        if (config.accessLog() != null) {
            try {
                accessLog = AccessLog.open(config.accessLog());
            } catch (IOException e) {
                throw ConfigException.bad(Settings.ACCESS_LOG.property(), config.accessLog(), "cannot open: " + e);
            }
        }
        for (int i = 0; i < loops.length; i++) {
            try {
                loops[i] = new EventLoop(i, new BufferPool(config.bufferBytes(), config.poolBytesPerLoop()),
                        config.bulkBufferBytes() == 0 ? null
                                : new BufferPool(config.bulkBufferBytes(), config.poolBytesPerLoop() / 4),
                        transport, config.loopSpinPolls());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open a selector", e);
            }
            tables[i] = new SessionTable(loops[i]);
            tables[i].accessLog(accessLog, config.accessLogInterimNanos());
            loops[i].addService(tables[i]);
            loops[i].start();
        }
    }

    /**
     * Health checks, backend sources and the reaper of each listener, on the control thread. The passive health
     * evaluation and the reaper of every listener share one tick: each scheduled task is a wake-up of the control
     * thread, and on a host where the loops fill the cores each wake-up preempts a loop (three listeners with a task
     * each woke it 45 times a second).
     */
    private void startControl() {
        for (int i = 0; i < listeners.size(); i++) {
            Listener l = listeners.get(i);
            BackendRegistry registry = l.registry();
            registry.sessionCloser(this::closeSessionsOf);
            HealthChecker hc = new HealthChecker(registry, l.config().health(), control, checks);
            hc.start();
            healthCheckers.add(hc);
            BackendSource source = new BackendSource(registry, l.config(), initialSpecs.get(i));
            source.start(control);
            sources.add(source);
            Rebalancer rebalancer = new Rebalancer(this, l, control);
            rebalancer.start();
            rebalancers.add(rebalancer);
        }
        long[] ticks = new long[1];
        control.scheduleWithFixedDelay(() -> {
            for (HealthChecker hc : healthCheckers) {
                hc.passiveTick();
            }
            // the rebalancers look at their triggers every 500 ms, in the same wake-up
            if (ticks[0] % (Rebalancer.TICK_MILLIS / HealthChecker.PASSIVE_TICK_MILLIS) == 0) {
                for (Rebalancer r : rebalancers) {
                    r.tick();
                }
            }
            // the reaper closes drained sessions past their deadline; every other tick (200 ms) is soon enough
            if ((ticks[0]++ & 1) == 1) {
                long now = System.nanoTime();
                for (Listener l : listeners) {
                    BackendRegistry r = l.registry();
                    try {
                        r.reap(now);
                    } catch (RuntimeException e) {
                        // an exception would end the scheduled tick, and with it every listener's passive checks
                        Log.error("reaping backends of listener " + r.listener() + " failed", e);
                    }
                }
            }
        }, HealthChecker.PASSIVE_TICK_MILLIS, HealthChecker.PASSIVE_TICK_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** Any thread: closes every session of {@code backend} on every loop (drain deadline, close-on-down). */
    private void closeSessionsOf(Backend backend) {
        for (int i = 0; i < loops.length; i++) {
            SessionTable t = tables[i];
            Session.CloseReason reason = backend.state() == Backend.State.DRAINING
                    ? Session.CloseReason.DRAINED : Session.CloseReason.BACKEND_DOWN;
            loops[i].execute(loop -> t.closeSessionsOf(backend, reason));
        }
    }

    /**
     * Any thread (not a loop): every loop's snapshot, taken on the loop itself.
     *
     * @param withSessions include a row per live session (selected by {@code filter}, null = all)
     */
    @Override
    public List<LoopSnapshot> snapshot(boolean withSessions, Predicate<Session> filter) {
        List<LoopSnapshot> out = onEveryLoop(t -> t.snapshot(withSessions, filter));
        out.removeIf(java.util.Objects::isNull);
        return out;
    }

    /** Any thread (not a loop): closes the sessions {@code filter} selects, on every loop; returns how many. */
    @Override
    public int closeSessions(Predicate<Session> filter) {
        return closeSessions(filter, Session.CloseReason.ADMIN_CLOSED);
    }

    @Override
    public int closeSessions(Predicate<Session> filter, Session.CloseReason reason) {
        int n = 0;
        for (Integer closed : onEveryLoop(t -> t.closeWhere(filter, reason))) {
            n += closed == null ? 0 : closed;
        }
        return n;
    }

    @Override
    public Rebalancer rebalancer(String name) {
        for (Rebalancer r : rebalancers) {
            if (r.listener().config().name().equals(name)) {
                return r;
            }
        }
        throw new IllegalArgumentException("no listener or pool " + name);
    }

    /**
     * Runs {@code work} on every loop against its session table and collects the answers (null for a loop that
     * stopped or did not answer within 2 s). Control and admin threads only: a loop calling this would wait for
     * itself.
     */
    private <T> List<T> onEveryLoop(java.util.function.Function<SessionTable, T> work) {
        List<CompletableFuture<T>> parts = new ArrayList<>();
        for (int i = 0; i < loops.length; i++) {
            SessionTable t = tables[i];
            CompletableFuture<T> f = new CompletableFuture<>();
            if (!loops[i].execute(loop -> f.complete(work.apply(t)))) {
                f.complete(null);
            }
            parts.add(f);
        }
        List<T> out = new ArrayList<>();
        for (CompletableFuture<T> f : parts) {
            try {
                out.add(f.get(2, TimeUnit.SECONDS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                Log.warn("a loop did not answer within 2 s: " + e);
                out.add(null);
            }
        }
        return out;
    }

    @Override
    public List<io.nioproxy.relay.Handoff.Frozen> freeze(int maxPerLoop) {
        List<io.nioproxy.relay.Handoff.Frozen> out = new ArrayList<>();
        for (List<io.nioproxy.relay.Handoff.Frozen> part : onEveryLoop(t -> t.freezeMovable(maxPerLoop))) {
            if (part != null) {
                out.addAll(part);
            }
        }
        return out;
    }

    @Override
    public void handedOver(List<io.nioproxy.relay.Handoff.Frozen> sessions) {
        onEveryLoop(t -> {
            t.handedOver(sessions, true);
            return null;
        });
    }

    @Override
    public void resume(List<io.nioproxy.relay.Handoff.Frozen> sessions) {
        onEveryLoop(t -> {
            t.handedOver(sessions, false);
            return null;
        });
    }

    @Override
    public void carryEnded(java.util.Map<io.nioproxy.relay.Route, long[]> byRoute,
                           java.util.Map<io.nioproxy.balance.Backend, long[]> byBackend) {
        onEveryLoop(t -> { // one loop keeps them, as it keeps its own ended sessions'
            if (t == tables[0]) {
                t.carryEnded(byRoute, byBackend);
            }
            return null;
        });
    }

    @Override
    public List<Long> adopt(List<io.nioproxy.relay.Handoff.Row> rows, int[] fds) {
        List<Long> rejected = java.util.Collections.synchronizedList(new ArrayList<>());
        List<List<Adoption>> perLoop = new ArrayList<>();
        for (int i = 0; i < loops.length; i++) {
            perLoop.add(new ArrayList<>());
        }
        for (int k = 0; k < rows.size(); k++) {
            io.nioproxy.relay.Handoff.Row row = rows.get(k);
            Listener front = find(row.front());
            Listener route = find(row.route());
            io.nioproxy.balance.Backend b = route == null ? null : route.registry().find(row.backend());
            if (front == null || b == null) {
                closeCopies(fds[2 * k], fds[2 * k + 1]);
                rejected.add(row.id());
                continue;
            }
            // the loop its id names (ids carry their loop), or a loop of this process's own count
            int i = (int) Long.remainderUnsigned(row.id() >>> 40, loops.length);
            perLoop.get(i).add(new Adoption(row, front.route(), route.route(), b,
                    transport.adoptConnected(fds[2 * k], row.client()),
                    transport.adoptConnected(fds[2 * k + 1], b.address()), fds[2 * k], fds[2 * k + 1]));
        }
        // one task per loop for the whole message: a hand-off per session cost a wake-up and a wait each
        List<CompletableFuture<Void>> done = new ArrayList<>();
        for (int i = 0; i < loops.length; i++) {
            List<Adoption> batch = perLoop.get(i);
            if (batch.isEmpty()) {
                continue;
            }
            SessionTable t = tables[i];
            CompletableFuture<Void> f = new CompletableFuture<>();
            if (!loops[i].execute(loop -> {
                for (Adoption a : batch) {
                    try {
                        t.adopt(a.row(), a.front(), a.route(), a.backend(), a.client(), a.backendConn());
                    } catch (IOException | RuntimeException e) {
                        Log.warn("take-over: session " + a.row().id() + " could not be adopted: " + e);
                        rejected.add(a.row().id()); // its descriptors were let go of (never the connection)
                    }
                }
                f.complete(null);
            })) {
                for (Adoption a : batch) {
                    closeCopies(a.clientFd(), a.backendFd());
                    rejected.add(a.row().id());
                }
                continue;
            }
            done.add(f);
        }
        for (CompletableFuture<Void> f : done) {
            try {
                f.get(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                Log.warn("take-over: a loop did not adopt its sessions within 10 s: " + e);
            }
        }
        return rejected;
    }

    /** A session of a take-over message on its way to its loop. */
    private record Adoption(io.nioproxy.relay.Handoff.Row row, io.nioproxy.relay.Route front,
                            io.nioproxy.relay.Route route, io.nioproxy.balance.Backend backend,
                            io.nioproxy.transport.Conn client, io.nioproxy.transport.Conn backendConn, int clientFd,
                            int backendFd) {
    }

    /** Closes this process's descriptors of a session not adopted: the previous process relays on. */
    private static void closeCopies(int... fds) {
        io.nioproxy.sys.Linux.Calls sys = io.nioproxy.sys.Linux.calls();
        for (int fd : fds) {
            sys.close(fd);
        }
    }

    /** The listener or pool {@code name}, or null. */
    private Listener find(String name) {
        for (Listener l : listeners) {
            if (l.config().name().equals(name)) {
                return l;
            }
        }
        return null;
    }

    @Override
    public EventLoop[] loops() {
        return loops.clone();
    }

    /** The health checker of listener {@code index}. */
    @Override
    public HealthChecker healthChecker(int index) {
        return healthCheckers.get(index);
    }

    /** The access log, or null when off. */
    @Override
    public AccessLog accessLog() {
        return accessLog;
    }

    /** The dashboard's sample history. */
    public History history() {
        return history;
    }

    /** The admin endpoint's bound address, or null when it is off. */
    /** Starts the admin endpoint ({@code proxy.admin}); idempotent. */
    public synchronized void startAdmin() {
        if (admin != null || config.admin() == null) {
            return;
        }
        if (history == null) {
            // the dashboard's history is sampled only when there is a dashboard to show it
            history = new History(this);
            history.start(control);
        }
        admin = AdminServer.start(this, history, config.admin());
    }

    /** Stops the admin endpoint: a process that took over from this one binds its port. */
    public synchronized void stopAdmin() {
        if (admin != null) {
            admin.stop();
            admin = null;
        }
    }

    public InetSocketAddress adminAddress() {
        return admin == null ? null : admin.address();
    }

    /** The backend source (file, DNS) of listener {@code index}. */
    public BackendSource backendSource(int index) {
        return sources.get(index);
    }

    /**
     * The stop SIGTERM asks for: stop accepting at once; let sessions finish on their own for up to
     * {@code timeoutNanos}; close those still open at random moments spread over {@code paceNanos} (so their
     * clients do not all reconnect elsewhere in one storm); then stop the loops.
     */
    public void shutdownGracefully(long timeoutNanos, long paceNanos) {
        stopAccepting();
        long start = System.nanoTime();
        Log.info("nioproxy stopping: listeners closed, " + sessions() + " sessions open; waiting up to "
                + Durations.format(timeoutNanos) + " for them to end");
        waitForSessions(start + timeoutNanos);
        int left = sessions();
        if (left > 0) {
            Log.info("nioproxy stopping: closing " + left + " sessions spread over " + Durations.format(paceNanos));
            long seed = System.nanoTime();
            for (int i = 0; i < loops.length; i++) {
                SessionTable t = tables[i];
                long loopSeed = seed + i;
                loops[i].execute(loop -> t.beginPacedClose(paceNanos, loopSeed));
            }
            waitForSessions(System.nanoTime() + paceNanos + TimeUnit.SECONDS.toNanos(2));
        }
        close();
    }

    private void waitForSessions(long deadlineNanos) {
        while (sessions() > 0 && System.nanoTime() - deadlineNanos < 0) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The transport of {@code mode}: the one place that maps a mode to its classes. */
    static Transport transportOf(io.nioproxy.config.IoMode mode) {
        return switch (mode) {
            case NIO -> io.nioproxy.transport.nio.NioTransport.INSTANCE;
            case EPOLL -> io.nioproxy.transport.epoll.EpollTransport.INSTANCE;
        };
    }

    /**
     * Daemon threads that lower their own priority to {@code nice} before their first task ({@link Priority}: they
     * share the loops' cores and must not hold a loop up). A nice value that cannot be set is logged once, by
     * {@code Main}, which asks for the compiler threads' too.
     */
    private static java.util.concurrent.ThreadFactory background(String name, int nice) {
        return r -> {
            Thread t = new Thread(() -> {
                Priority.lowerCurrentThread(nice);
                r.run();
            }, name);
            t.setDaemon(true);
            return t;
        };
    }

    public ProxyConfig config() {
        return config;
    }

    @Override
    public List<Listener> listeners() {
        return List.copyOf(listeners);
    }

    @Override
    public Listener listener(String name) {
        Listener l = find(name);
        if (l == null) {
            throw new IllegalArgumentException("no listener " + name);
        }
        return l;
    }

    /** Sessions open now, over all loops. */
    public int sessions() {
        int n = 0;
        for (SessionTable t : tables) {
            n += t == null ? 0 : t.sessions();
        }
        return n;
    }

    /** Pooled buffers (regular and bulk) held now, over all loops (0 when nothing is in flight). */
    public int buffersInUse() {
        int n = 0;
        for (EventLoop l : loops) {
            n += l == null ? 0 : l.pool().inUse() + (l.bulkPool() == null ? 0 : l.bulkPool().inUse());
        }
        return n;
    }

    /** Most buffers all pools together may hold. */
    public long maxBuffers() {
        long n = 0;
        for (EventLoop l : loops) {
            n += l == null ? 0 : l.pool().maxBuffers();
        }
        return n;
    }

    /** The ids of the loop threads, in loop order. */
    public long[] loopThreadIds() {
        long[] ids = new long[loops.length];
        for (int i = 0; i < loops.length; i++) {
            ids[i] = loops[i].threadId();
        }
        return ids;
    }

    /** Stops accepting on every listener; sessions already open go on. Any thread. */
    /**
     * Binds every listener again (fresh sockets): a take-over that failed after this process stopped accepting. Any
     * thread; a listener that cannot bind (the port still held) is logged and left closed.
     */
    public void resumeAccepting() {
        for (Listener l : listeners) {
            try {
                l.bind(transport, loops, tables, config.acceptMode());
            } catch (ConfigException e) {
                Log.error("take-over failed and " + l.config().name() + " could not listen again", e);
            }
        }
    }

    public void stopAccepting() {
        for (Listener l : listeners) {
            l.close();
        }
    }

    @Override
    public EtcdMembership membership() {
        return membership;
    }

    /** Stops accepting, closes every session and stops the loops. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (admin != null) {
            admin.stop();
        }
        if (membership != null) {
            membership.stop();
        }
        control.shutdownNow();
        checks.shutdownNow();
        stopAccepting();
        for (EventLoop l : loops) {
            if (l != null) {
                l.close();
            }
        }
        if (accessLog != null) {
            accessLog.close();
        }
    }
}
