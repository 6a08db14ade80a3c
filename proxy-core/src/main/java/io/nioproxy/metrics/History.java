package io.nioproxy.metrics;

import io.nioproxy.view.ProxyView;
import io.nioproxy.balance.Backend;
import io.nioproxy.listener.Listener;
import io.nioproxy.relay.LoopSnapshot;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The last minutes of per-backend state, active sessions and throughput, sampled once a second, for the dashboard:
 * a page opened now shows the recent past at once instead of starting from an empty chart.
 *
 * <p>Threading: sampled on the control thread (a snapshot task per loop); read by the admin thread; guarded by
 * this object's monitor.
 */
public final class History {
    public static final int SAMPLES = 300;
    public static final long INTERVAL_MILLIS = 1000;

    /** One backend at one sample; {@code pool}: {@code listener} names a pool. */
    public record Point(String listener, boolean pool, String backend, String state, int active,
                        double upBytesPerSecond, double downBytesPerSecond) {
    }

    /** One sample: the time, every backend, and the rebalances in progress (listener or pool → moves pending). */
    public record Sample(long timeMillis, List<Point> points, Map<String, Integer> rebalancing) {
    }

    private final ProxyView proxy;
    private final ArrayDeque<Sample> samples = new ArrayDeque<>();
    private Map<Backend, long[]> lastBytes = new IdentityHashMap<>();
    private long lastNanos;

    public History(ProxyView proxy) {
        this.proxy = proxy;
    }

    public void start(ScheduledExecutorService control) {
        control.scheduleWithFixedDelay(this::sample, 0, INTERVAL_MILLIS, TimeUnit.MILLISECONDS);
    }

    void sample() {
        try {
            long now = System.nanoTime();
            Map<Backend, long[]> bytes = LoopSnapshot.sum(proxy.snapshot(false, null), s -> s.bytesByBackend);
            double secs = lastNanos == 0 ? 0 : (now - lastNanos) / 1e9;
            List<Point> points = new ArrayList<>();
            Map<String, Integer> rebalancing = new java.util.LinkedHashMap<>();
            for (Listener l : proxy.listeners()) {
                int pending = proxy.rebalancer(l.config().name()).pending();
                if (pending > 0) {
                    rebalancing.put(l.config().name(), pending);
                }
                for (Backend b : l.backends()) {
                    long[] cur = bytes.getOrDefault(b, new long[2]);
                    long[] prev = lastBytes.get(b);
                    double up = 0;
                    double down = 0;
                    if (prev != null && secs > 0) {
                        up = Math.max(0, cur[0] - prev[0]) / secs;
                        down = Math.max(0, cur[1] - prev[1]) / secs;
                    }
                    points.add(new Point(l.config().name(), l.config().pool(), b.identity(),
                            b.removed() ? "removed" : b.state().label(), b.active(), up, down));
                }
            }
            synchronized (this) {
                lastBytes = bytes;
                lastNanos = now;
                samples.addLast(new Sample(System.currentTimeMillis(), points, rebalancing));
                while (samples.size() > SAMPLES) {
                    samples.removeFirst();
                }
            }
        } catch (RuntimeException e) {
            io.nioproxy.log.Log.error("dashboard sample failed", e);
        }
    }

    public synchronized List<Sample> samples() {
        return List.copyOf(samples);
    }
}
