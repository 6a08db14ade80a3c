package io.nioproxy.health;

import io.nioproxy.balance.Backend;
import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.config.HealthConfig;
import io.nioproxy.log.Log;

import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Health of one listener's backends, HAProxy-style: {@code rise} consecutive good checks bring a backend up,
 * {@code fall} consecutive failures take it down, and a backend that went down stays out at least {@code holddown}
 * (so a flapping server does not rejoin at once).
 *
 * <ul>
 *   <li><b>Active</b> ({@code proxy.health.interval} &gt; 0): a TCP connect to each backend every interval, and when
 *   {@code health.send}/{@code health.expect} are set, a request and a reply prefix, within {@code health.timeout}.
 *   Checks block, so they run on a small pool, never on a loop.</li>
 *   <li><b>Passive</b> ({@code proxy.health.passive}, on by default): clients' failed connects to a backend, counted
 *   by the loops in {@link Backend#connectFailed()}, count toward {@code fall}; evaluated every 100 ms. With no active
 *   checks, a passively downed backend is retried after the hold-down (nginx's {@code fail_timeout}).</li>
 * </ul>
 * A down backend leaves the rotation; only its clients move, to their next choice. Sessions already on it are kept,
 * or closed after a grace period when {@code health.on.down=close}.
 *
 * <p>Threading: ticks on the control thread; check results on the check pool; state under this object's monitor,
 * transitions through the registry's.
 */
public final class HealthChecker {
    public static final long PASSIVE_TICK_MILLIS = 100;

    private final BackendRegistry registry;
    private final HealthConfig config;
    private final ScheduledExecutorService control;
    private final ExecutorService checks;
    private final Map<Backend, Status> status = new IdentityHashMap<>();

    /** Per-backend bookkeeping. */
    static final class Status {
        int successes;
        int failures;
        long downSinceNanos;
        boolean inFlight;
        String last = "none";
        long passed;
        long failed;
    }

    /** Active checks so far of {@code b}: [passed, failed]. */
    public synchronized long[] checkCounts(Backend b) {
        Status s = status.get(b);
        return s == null ? new long[2] : new long[] {s.passed, s.failed};
    }

    public HealthChecker(BackendRegistry registry, HealthConfig config, ScheduledExecutorService control,
                         ExecutorService checks) {
        this.registry = registry;
        this.config = config;
        this.control = control;
        this.checks = checks;
    }

    /**
     * Schedules the active checks. The passive evaluation is not scheduled here: the owner calls
     * {@link #passiveTick()} every {@link #PASSIVE_TICK_MILLIS} from one tick shared by every listener.
     */
    public void start() {
        if (config.intervalNanos() > 0) {
            control.scheduleWithFixedDelay(this::activeTick, 0, config.intervalNanos(), TimeUnit.NANOSECONDS);
        }
    }

    private synchronized Status status(Backend b) {
        return status.computeIfAbsent(b, k -> new Status());
    }

    /** The last check's outcome, for the admin API. */
    public synchronized String lastCheck(Backend b) {
        Status s = status.get(b);
        return s == null ? "none" : s.last;
    }

    void activeTick() {
        try {
            for (Backend b : registry.backends()) {
                if (b.removed()) {
                    continue;
                }
                Status s = status(b);
                synchronized (this) {
                    if (s.inFlight) {
                        continue;
                    }
                    s.inFlight = true;
                }
                try {
                    checks.execute(() -> {
                        String failure = probe(b);
                        applyCheck(b, failure);
                    });
                } catch (RejectedExecutionException stopping) {
                    return;
                }
            }
            synchronized (this) {
                status.keySet().removeIf(Backend::removed);
            }
        } catch (RuntimeException e) {
            Log.error("health checks of listener " + registry.listener() + " failed", e);
        }
    }

    /** @return null when the backend passed, else why it failed */
    String probe(Backend b) {
        int timeoutMs = (int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(config.timeoutNanos()));
        try (Socket s = new Socket()) {
            s.connect(b.address(), timeoutMs);
            if (config.send() != null) {
                s.getOutputStream().write(config.send().getBytes(StandardCharsets.ISO_8859_1));
                s.getOutputStream().flush();
            }
            if (config.expect() != null) {
                s.setSoTimeout(timeoutMs);
                byte[] want = config.expect().getBytes(StandardCharsets.ISO_8859_1);
                byte[] got = s.getInputStream().readNBytes(want.length);
                if (got.length < want.length || !java.util.Arrays.equals(got, want)) {
                    return "reply did not start with the expected bytes";
                }
            }
            return null;
        } catch (IOException e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    void applyCheck(Backend b, String failure) {
        long now = System.nanoTime();
        boolean up = false;
        boolean down = false;
        int inARow;
        Status s = status(b);
        synchronized (this) {
            s.inFlight = false;
            if (failure == null) {
                s.passed++;
                s.last = "ok";
                s.failures = 0;
                s.successes++;
                up = b.state() == Backend.State.DOWN && s.successes >= config.rise()
                        && now - s.downSinceNanos >= config.holddownNanos();
                inARow = s.successes;
            } else {
                s.failed++;
                s.last = failure;
                s.successes = 0;
                s.failures++;
                down = b.state() == Backend.State.UP && s.failures >= config.fall();
                if (down) {
                    s.downSinceNanos = now;
                }
                inARow = s.failures;
            }
        }
        if (up) {
            registry.markUp(b, inARow + " good checks");
        } else if (down) {
            registry.markDown(b, inARow + " failed checks, last: " + failure);
            onDown(b);
        }
    }

    /** Control thread: takes down backends whose clients' connects failed {@code fall} times in a row. */
    public void passiveTick() {
        try {
            long now = System.nanoTime();
            for (Backend b : registry.backends()) {
                if (b.removed()) {
                    continue;
                }
                Status s = status(b);
                if (config.passive() && b.state() == Backend.State.UP && b.consecutiveConnectFailures() >= config.fall()) {
                    synchronized (this) {
                        s.downSinceNanos = now;
                        s.successes = 0;
                        s.last = b.consecutiveConnectFailures() + " client connects failed";
                    }
                    registry.markDown(b, b.consecutiveConnectFailures() + " client connects failed in a row");
                    onDown(b);
                } else if (config.intervalNanos() == 0 && b.state() == Backend.State.DOWN) {
                    long since;
                    synchronized (this) {
                        since = s.downSinceNanos;
                    }
                    if (now - since >= config.holddownNanos()) {
                        registry.markUp(b, "retried after the hold-down of passive checks");
                    }
                }
            }
        } catch (RuntimeException e) {
            Log.error("passive health of listener " + registry.listener() + " failed", e);
        }
    }

    private void onDown(Backend b) {
        if (!config.closeOnDown()) {
            return;
        }
        Runnable close = () -> {
            if (b.state() == Backend.State.DOWN && b.active() > 0) {
                Log.info("listener " + registry.listener() + ": closing " + b.active() + " sessions of down backend "
                        + b.identity());
                registry.closeSessions(b);
            }
        };
        try {
            control.schedule(close, config.closeGraceNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException stopping) {
            // shutting down: every session is being closed anyway
        }
    }
}
