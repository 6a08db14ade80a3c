package io.nioproxy.control.etcd;

import io.nioproxy.balance.Backend;
import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.config.EtcdConfig;
import io.nioproxy.listener.Listener;
import io.nioproxy.log.Log;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps every listener's and pool's backends equal to what etcd holds under {@code PREFIX + NAME + "/"}: one full
 * read at start, then one watch over the whole prefix, each change applied through the same {@link BackendRegistry}
 * calls the backends file and the admin API use. Admin changes are written to etcd ({@link #write},
 * {@link #delete}) and reach this instance, like every other, through the watch.
 *
 * <p>When etcd cannot be reached or has lost its quorum, traffic goes on with the last membership: nothing is removed
 * for want of an answer. The watcher retries with back-off (0.1 s doubling to 5 s, jittered), member after member,
 * and resumes from the last revision it applied, so no change is missed; only when etcd has compacted that revision
 * away does it read everything again and reconcile. A probe every second (a linearizable read: it fails without a
 * quorum) tells {@link #healthy()} and the log, the metrics and {@code /healthz}. A watch with nothing to say for 5 s
 * is made again, so a member that died without closing its connections is left within that time.
 *
 * <p>Generation: for each pool, the etcd revision of the newest change applied to it ({@link BackendRegistry#generation}).
 * After any change every instance reports that change's revision. An instance that started after the pool's last
 * change was a deletion reports the newest surviving key's revision instead; the membership digest is the exact check.
 *
 * <p>Threading: the watcher thread ({@code nioproxy-etcd}) applies changes, under this object's monitor; the probe
 * has a thread of its own ({@code nioproxy-etcd-probe}); {@link #write}, {@link #delete} and {@link #awaitRevision}
 * are called by admin threads.
 */
public final class EtcdMembership implements Runnable {
    public static final String SOURCE = "etcd";
    private static final long BACKOFF_MIN_MILLIS = 100;
    private static final long BACKOFF_MAX_MILLIS = 5_000;
    private static final long PROBE_MILLIS = 1_000;
    /** Probes failed in a row before etcd is called unreachable (one slow answer on a busy host is not an outage). */
    private static final int PROBE_FAILURES = 2;

    private final EtcdConfig config;
    private final EtcdClient client;
    private final Map<String, Listener> pools = new LinkedHashMap<>();
    /** What etcd holds, by key, as last applied. Watcher thread, under the monitor. */
    private final Map<String, Member> members = new HashMap<>();
    private final Set<String> unknownPools = new HashSet<>();
    private final Thread watcher;
    private final AtomicLong failures = new AtomicLong();
    private final AtomicLong fullReads = new AtomicLong();
    /** The newest revision applied; watches resume after it. Guarded by the monitor; volatile for readers. */
    private volatile long revision;
    private volatile boolean healthy;
    private volatile String problem = "not read yet";
    private volatile long problemSinceMillis = System.currentTimeMillis();
    /** Whether a watch is in place now (probe thread reads). */
    private volatile boolean watching;
    private volatile boolean stopped;
    /** Probe thread only. */
    private int probeFailures;
    private final ScheduledExecutorService prober = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "nioproxy-etcd-probe");
        t.setDaemon(true);
        return t;
    });
    private boolean resync = true;

    public EtcdMembership(EtcdConfig config, List<Listener> listeners) {
        this.config = config;
        this.client = new EtcdClient(config.endpoints(), config.timeoutNanos());
        for (Listener l : listeners) {
            pools.put(l.config().name(), l);
        }
        this.watcher = new Thread(this, "nioproxy-etcd");
        this.watcher.setDaemon(true);
    }

    /**
     * Reads the membership once (trying each member within the timeout), then starts the watcher and the probe.
     * When etcd does not answer in time the balancer starts with no backends and says so; they arrive with etcd.
     */
    public void start() {
        long deadline = System.nanoTime() + config.timeoutNanos();
        for (int i = 0; i < config.endpoints().size() && System.nanoTime() - deadline < 0; i++) {
            try {
                sync();
                recovered("membership read from " + client.endpoint());
                break;
            } catch (IOException e) {
                failed(e);
                client.nextEndpoint();
            }
        }
        if (resync) {
            Log.warn("etcd: no membership at start (" + problem + "); listeners have no backends until etcd answers");
        }
        watcher.start();
        // a thread of its own: a probe waits up to proxy.etcd.timeout, which the shared control tick must not
        prober.scheduleWithFixedDelay(this::probe, PROBE_MILLIS, PROBE_MILLIS, TimeUnit.MILLISECONDS);
    }

    public void stop() {
        stopped = true;
        prober.shutdownNow();
        watcher.interrupt(); // a sleeping back-off ends now; a watch ends within EtcdClient.IDLE_MILLIS
    }

    @Override
    public void run() {
        long backoff = BACKOFF_MIN_MILLIS;
        while (!stopped) {
            boolean[] watched = {false};
            watching = false;
            try {
                if (resync) {
                    sync();
                }
                client.watch(config.prefix(), revision + 1, new EtcdClient.WatchHandler() {
                    @Override
                    public void created(long rev) {
                        watched[0] = true;
                        watching = true;
                        recovered("watching from revision " + (revision + 1) + " on " + client.endpoint());
                    }

                    @Override
                    public void events(long rev, List<EtcdClient.Event> events) {
                        apply(events);
                    }
                });
                continue; // idle for a while: watch again from the revision reached, at once
            } catch (EtcdClient.CompactedException e) {
                Log.warn("etcd: " + e.getMessage() + "; reading the whole membership again");
                resync = true;
                continue;
            } catch (IOException | RuntimeException e) {
                if (stopped) {
                    return;
                }
                failed(e);
                client.nextEndpoint();
            }
            if (watched[0]) {
                backoff = BACKOFF_MIN_MILLIS; // a watch that ran: the next failure starts the back-off again
            }
            try {
                long jitter = ThreadLocalRandom.current().nextLong(backoff / 5 + 1);
                Thread.sleep(backoff - backoff / 10 + jitter);
            } catch (InterruptedException e) {
                return;
            }
            backoff = Math.min(BACKOFF_MAX_MILLIS, backoff * 2);
        }
    }

    /** Reads every key and makes the registries equal to them. */
    private void sync() throws IOException {
        EtcdClient.Range r = client.range(config.prefix());
        synchronized (this) {
            Map<String, Member> read = new HashMap<>();
            Map<String, Set<String>> wanted = new HashMap<>(); // pool -> identities etcd holds
            Map<String, Long> generation = new HashMap<>();    // pool -> revision of its newest key
            for (EtcdClient.KeyValue kv : r.kvs()) {
                Member m = parse(kv);
                if (m != null) {
                    read.put(kv.key(), m);
                    wanted.computeIfAbsent(m.pool(), p -> new HashSet<>()).add(m.identity());
                    generation.merge(m.pool(), kv.modRevision(), Math::max);
                }
            }
            for (Map.Entry<String, Listener> pool : pools.entrySet()) {
                BackendRegistry registry = pool.getValue().registry();
                Set<String> keep = wanted.getOrDefault(pool.getKey(), Set.of());
                for (Backend b : registry.backends()) {
                    if (!b.removed() && !keep.contains(b.identity())) {
                        registry.remove(b.identity());
                    }
                }
                registry.generation(Math.max(generation.getOrDefault(pool.getKey(), 0L), registry.generation()));
            }
            members.clear();
            for (Map.Entry<String, Member> e : read.entrySet()) {
                applyMember(e.getValue());
                members.put(e.getKey(), e.getValue());
            }
            revision = Math.max(revision, r.revision());
            resync = false;
            fullReads.incrementAndGet();
            notifyAll();
        }
        Log.info("etcd: membership read at revision " + r.revision() + " from " + client.endpoint() + ": "
                + members.size() + " backends in " + pools.size() + " pools");
    }

    private synchronized void apply(List<EtcdClient.Event> events) {
        for (EtcdClient.Event ev : events) {
            String key = ev.kv().key();
            long rev = ev.kv().modRevision();
            String poolName = Member.poolOf(config.prefix(), key);
            Listener pool = poolName == null ? null : pools.get(poolName);
            if (ev.delete()) {
                Member gone = members.remove(key);
                if (gone != null) {
                    pools.get(gone.pool()).registry().remove(gone.identity());
                }
            } else {
                Member m = parse(ev.kv());
                if (m != null) {
                    applyMember(m);
                    members.put(key, m);
                }
            }
            if (pool != null) {
                pool.registry().generation(Math.max(rev, pool.registry().generation()));
            }
            revision = Math.max(revision, rev);
        }
        notifyAll();
    }

    /** A key's member, or null (logged) when it is malformed or names a pool this instance does not have. */
    private Member parse(EtcdClient.KeyValue kv) {
        Member m;
        try {
            m = Member.parse(config.prefix(), kv.key(), kv.value());
        } catch (IllegalArgumentException e) {
            Member previous = members.get(kv.key());
            Log.warn("etcd: ignored at revision " + kv.modRevision() + ": " + e.getMessage()
                    + (previous == null ? "" : "; " + previous.identity() + " keeps its previous settings"));
            return null;
        }
        if (!pools.containsKey(m.pool())) {
            if (unknownPools.add(m.pool())) {
                Log.warn("etcd: key " + kv.key() + " names pool '" + m.pool() + "', which this instance does not"
                        + " have (its listeners and pools: " + pools.keySet() + "); ignored");
            }
            return null;
        }
        return m;
    }

    /** Makes the registry's backend what {@code m} says; health stays this instance's own. */
    private void applyMember(Member m) {
        Listener pool = pools.get(m.pool());
        BackendRegistry registry = pool.registry();
        Backend b = registry.find(m.identity());
        if (b == null || b.removed() || b.weight() != m.weight()
                || (b.state() == Backend.State.DRAINING && !m.draining())) {
            b = registry.add(m.address(), m.weight(), SOURCE);
        }
        if (m.draining() && b.state() != Backend.State.DRAINING) {
            long timeout = m.drainTimeoutNanos() >= 0 ? m.drainTimeoutNanos() : pool.config().drainTimeoutNanos();
            registry.drain(m.identity(), timeout == 0 ? Long.MAX_VALUE : System.nanoTime() + timeout);
        }
    }

    /** Probe thread: a linearizable read of the member the watch is on. */
    private void probe() {
        if (stopped) {
            return;
        }
        try {
            client.probe(config.prefix());
            probeFailures = 0;
            if (watching) {
                recovered("answering again on " + client.endpoint());
            }
        } catch (IOException e) {
            int n = ++probeFailures;
            if (n >= PROBE_FAILURES) {
                failed(e);
            }
        } catch (RuntimeException e) {
            Log.error("etcd: the probe failed", e);
        }
    }

    private void failed(Throwable e) {
        failures.incrementAndGet();
        String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (healthy || !why.equals(problem)) {
            if (healthy) {
                problemSinceMillis = System.currentTimeMillis();
            }
            Log.warn("etcd: " + why + "; serving the membership of revision " + revision + " and retrying");
        }
        problem = why;
        healthy = false;
    }

    private void recovered(String what) {
        if (!healthy) {
            healthy = true;
            problem = null;
            Log.info("etcd: " + what);
        }
    }

    /** Writes a member; returns etcd's revision of the write. Admin threads. */
    public long write(Member m) throws IOException {
        try {
            return client.put(m.key(config.prefix()), m.json());
        } catch (IOException e) {
            client.nextEndpoint();
            throw e;
        }
    }

    /** Deletes a member; returns etcd's revision after it. Admin threads. */
    public long delete(String pool, String identity) throws IOException {
        try {
            return client.delete(config.poolPrefix(pool) + identity);
        } catch (IOException e) {
            client.nextEndpoint();
            throw e;
        }
    }

    /** Waits until this instance has applied revision {@code rev}; false on timeout. */
    public synchronized boolean awaitRevision(long rev, long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        while (revision < rev) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return true;
    }

    /** The member as etcd holds it, or null. */
    public synchronized Member member(String pool, String identity) {
        return members.get(config.poolPrefix(pool) + identity);
    }

    public boolean healthy() {
        return healthy;
    }

    /** Why etcd is not answering (null when it is). */
    public String problem() {
        return healthy ? null : problem;
    }

    /** Since when (epoch millis) it has not been answering. */
    public long problemSinceMillis() {
        return problemSinceMillis;
    }

    public long revision() {
        return revision;
    }

    public long failures() {
        return failures.get();
    }

    /** Whole-membership reads: one at start, one after each compaction that outran the watch. */
    public long fullReads() {
        return fullReads.get();
    }

    public EtcdConfig config() {
        return config;
    }

    /** Where keys are written now (for /healthz). */
    public String endpoint() {
        return client.endpoint().getAuthority();
    }

    /** Every member, for tests and the admin API. */
    public synchronized List<Member> members() {
        return new ArrayList<>(members.values());
    }
}
