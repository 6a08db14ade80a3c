package io.nioproxy.metrics;

import io.nioproxy.view.ProxyView;
import io.nioproxy.balance.Backend;
import io.nioproxy.listener.Listener;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.relay.LoopSnapshot;
import io.nioproxy.relay.Route;
import io.nioproxy.relay.Session;
import org.HdrHistogram.Histogram;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code GET /metrics}: the balancer's state in the Prometheus text exposition format (version 0.0.4). Names follow
 * Prometheus conventions: {@code nioproxy_} prefix, base units (bytes, seconds), {@code _total} on counters.
 *
 * <p>How it stays off the hot path: counters the loops bump once per session are {@code LongAdder}s and atomics;
 * byte counts are gathered by a snapshot task on each loop (ended sessions plus live ones); histograms are a
 * {@link io.nioproxy.relay.LoopHistogram} per listener: a single-writer recorder per loop, read as a running total
 * (the recording loop never waits).
 *
 * <p>Threading: the admin thread; one scrape at a time (synchronized).
 */
public final class PrometheusExporter {
    static final double[] QUANTILES = {0.5, 0.9, 0.99, 0.999};

    private final ProxyView proxy;
    private long lastScrapeNanos;
    private long[] lastBusy;

    public PrometheusExporter(ProxyView proxy) {
        this.proxy = proxy;
    }

    public synchronized String scrape() {
        StringBuilder sb = new StringBuilder(8192);
        List<LoopSnapshot> snaps = proxy.snapshot(false, null);
        Map<Route, long[]> routeBytes = LoopSnapshot.sum(snaps, s -> s.bytesByRoute);
        Map<Backend, long[]> backendBytes = LoopSnapshot.sum(snaps, s -> s.bytesByBackend);
        List<Listener> listeners = proxy.listeners();

        type(sb, "nioproxy_connections_accepted_total", "counter", "Client connections accepted.");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_connections_accepted_total", l.route().accepted(), "listener", name(l));
        }
        type(sb, "nioproxy_connections_active", "gauge", "Client connections open now (connecting or relaying).");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_connections_active", l.route().active(), "listener", name(l));
        }
        type(sb, "nioproxy_connections_closed_total", "counter", "Client connections ended, by how they ended.");
        for (Listener l : listeners) {
            for (Session.CloseReason r : Session.CloseReason.values()) {
                if (r == Session.CloseReason.COMPLETED || r == Session.CloseReason.RESET) {
                    continue; // resolved to a side at close, never recorded as such
                }
                sample(sb, "nioproxy_connections_closed_total", l.route().closedFor(r), "listener", name(l),
                        "reason", r.label());
            }
        }
        type(sb, "nioproxy_bytes_total", "counter", "Bytes relayed, by direction (up: client to backend).");
        for (Listener l : listeners) {
            long[] v = routeBytes.getOrDefault(l.route(), new long[2]);
            sample(sb, "nioproxy_bytes_total", v[0], "listener", name(l), "direction", "up");
            sample(sb, "nioproxy_bytes_total", v[1], "listener", name(l), "direction", "down");
        }
        type(sb, "nioproxy_backend_bytes_total", "counter", "Bytes relayed per backend, by direction.");
        for (Listener l : listeners) {
            for (Backend b : l.backends()) {
                long[] v = backendBytes.getOrDefault(b, new long[2]);
                sample(sb, "nioproxy_backend_bytes_total", v[0], "listener", name(l), "backend", b.identity(), "direction", "up");
                sample(sb, "nioproxy_backend_bytes_total", v[1], "listener", name(l), "backend", b.identity(), "direction", "down");
            }
        }
        family(sb, listeners, "nioproxy_backend_active_sessions", "gauge", "Sessions relayed to the backend now.",
                (l, b) -> b.active());
        family(sb, listeners, "nioproxy_backend_sessions_total", "counter", "Sessions that reached the backend.",
                (l, b) -> b.sessions());
        family(sb, listeners, "nioproxy_backend_connect_attempts_total", "counter", "Backend connect attempts.",
                (l, b) -> b.sessions() + b.connectFailures());
        family(sb, listeners, "nioproxy_backend_connect_failures_total", "counter",
                "Backend connect attempts that failed (refused, reset, timed out).", (l, b) -> b.connectFailures());
        type(sb, "nioproxy_connect_timeouts_total", "counter", "Backend connect attempts that timed out.");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_connect_timeouts_total", l.route().connectTimeouts(), "listener", name(l));
        }
        type(sb, "nioproxy_no_backend_total", "counter", "Clients closed because no backend could be reached.");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_no_backend_total", l.route().noBackend(), "listener", name(l));
        }
        type(sb, "nioproxy_proxy_protocol_rejected_total", "counter",
                "Connections closed for a malformed, late or untrusted PROXY protocol header.");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_proxy_protocol_rejected_total", l.route().proxyRejected(), "listener", name(l));
        }
        type(sb, "nioproxy_local_connect_failures_total", "counter",
                "Backend connects that could not start for a local reason (out of descriptors or ports).");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_local_connect_failures_total", l.route().localFailures(), "listener", name(l));
        }
        type(sb, "nioproxy_client_limited_total", "counter", "Connections refused by a per-client-address limit.");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_client_limited_total", l.route().limited(), "listener", name(l));
        }
        type(sb, "nioproxy_accept_paused_total", "counter",
                "Times accepting paused: at maxconn (reason=maxconn) or out of descriptors (reason=accept_error).");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_accept_paused_total", l.limitPauses(), "listener", name(l), "reason", "maxconn");
            sample(sb, "nioproxy_accept_paused_total", l.acceptPauses(), "listener", name(l), "reason", "accept_error");
        }
        family(sb, listeners, "nioproxy_backend_up", "gauge", "1 when the backend takes new clients (up, not draining).",
                (l, b) -> b.inRotation() ? 1 : 0);
        type(sb, "nioproxy_backend_state", "gauge", "1 for the backend's current state.");
        for (Listener l : listeners) {
            for (Backend b : l.backends()) {
                for (Backend.State st : Backend.State.values()) {
                    sample(sb, "nioproxy_backend_state", b.state() == st ? 1 : 0, "listener", name(l),
                            "backend", b.identity(), "state", st.label());
                }
            }
        }
        family(sb, listeners, "nioproxy_backend_weight", "gauge", "The backend's weight.", (l, b) -> b.weight());
        type(sb, "nioproxy_health_checks_total", "counter", "Active health checks, by result.");
        for (int i = 0; i < listeners.size(); i++) {
            Listener l = listeners.get(i);
            for (Backend b : l.backends()) {
                long[] c = proxy.healthChecker(i).checkCounts(b);
                sample(sb, "nioproxy_health_checks_total", c[0], "listener", name(l), "backend", b.identity(), "result", "passed");
                sample(sb, "nioproxy_health_checks_total", c[1], "listener", name(l), "backend", b.identity(), "result", "failed");
            }
        }
        summaries(sb, listeners);

        EventLoop[] loops = proxy.loops();
        type(sb, "nioproxy_buffers_in_use", "gauge", "Pooled relay buffers held by sessions now.");
        for (EventLoop loop : loops) {
            sample(sb, "nioproxy_buffers_in_use", loop.pool().inUse(), "loop", String.valueOf(loop.index()));
        }
        type(sb, "nioproxy_buffers_allocated", "gauge", "Pooled relay buffers allocated (in use or free).");
        for (EventLoop loop : loops) {
            sample(sb, "nioproxy_buffers_allocated", loop.pool().allocated(), "loop", String.valueOf(loop.index()));
        }
        if (loops.length > 0 && loops[0].bulkPool() != null) {
            type(sb, "nioproxy_bulk_buffers_in_use", "gauge",
                    "Bulk relay buffers (proxy.buffer.bulk.size) held by sessions now.");
            for (EventLoop loop : loops) {
                sample(sb, "nioproxy_bulk_buffers_in_use", loop.bulkPool().inUse(), "loop",
                        String.valueOf(loop.index()));
            }
        }
        long now = System.nanoTime();
        long[] busy = new long[loops.length];
        type(sb, "nioproxy_loop_busy_seconds_total", "counter", "Time each event loop spent working (outside select).");
        for (int i = 0; i < loops.length; i++) {
            busy[i] = loops[i].busyNanos();
            sample(sb, "nioproxy_loop_busy_seconds_total", busy[i] / 1e9, "loop", String.valueOf(i));
        }
        type(sb, "nioproxy_loop_utilisation", "gauge", "Share of wall time each loop worked since the previous scrape.");
        for (int i = 0; i < loops.length; i++) {
            double util = lastBusy == null || now == lastScrapeNanos ? 0
                    : (double) (busy[i] - lastBusy[i]) / (now - lastScrapeNanos);
            sample(sb, "nioproxy_loop_utilisation", Math.min(1, Math.max(0, util)), "loop", String.valueOf(i));
        }
        lastBusy = busy;
        lastScrapeNanos = now;
        type(sb, "nioproxy_rebalance_spread", "gauge",
                "Most loaded backend's sessions per unit of weight over the mean, backends in rotation (1 = even).");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_rebalance_spread", proxy.rebalancer(name(l)).spread(), "listener", name(l));
        }
        type(sb, "nioproxy_rebalance_pending", "gauge", "Clients a rebalance in progress has yet to move.");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_rebalance_pending", proxy.rebalancer(name(l)).pending(), "listener", name(l));
        }
        type(sb, "nioproxy_rebalance_pace", "gauge", "Clients moved per second while a rebalance runs (0: none runs).");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_rebalance_pace", proxy.rebalancer(name(l)).pace(), "listener", name(l));
        }
        type(sb, "nioproxy_rebalance_moved_total", "counter", "Clients asked to reconnect by a rebalance, by its reason.");
        for (Listener l : listeners) {
            proxy.rebalancer(name(l)).moved().forEach((reason, n) ->
                    sample(sb, "nioproxy_rebalance_moved_total", n, "listener", name(l), "reason", reason));
        }
        type(sb, "nioproxy_membership_generation", "gauge",
                "Which membership the listener has: etcd's revision of its last change (or a count of local changes).");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_membership_generation", l.registry().generation(), "listener", name(l));
        }
        type(sb, "nioproxy_membership_digest", "gauge",
                "48-bit digest of the members (address, weight, draining; not health): equal digests, equal hash tables.");
        for (Listener l : listeners) {
            sample(sb, "nioproxy_membership_digest", l.registry().digest(), "listener", name(l));
        }
        if (proxy.membership() != null) {
            type(sb, "nioproxy_etcd_up", "gauge", "1 while etcd answers (with a quorum), 0 while the last membership is served.");
            sample(sb, "nioproxy_etcd_up", proxy.membership().healthy() ? 1 : 0);
            type(sb, "nioproxy_etcd_revision", "gauge", "The newest etcd revision this instance has applied.");
            sample(sb, "nioproxy_etcd_revision", proxy.membership().revision());
            type(sb, "nioproxy_etcd_failures_total", "counter", "etcd requests, watches and probes that failed.");
            sample(sb, "nioproxy_etcd_failures_total", proxy.membership().failures());
        }
        type(sb, "nioproxy_selector_rebuilds_total", "counter", "Selectors rebuilt after select() kept returning early.");
        for (EventLoop loop : loops) {
            sample(sb, "nioproxy_selector_rebuilds_total", loop.selectorRebuilds(), "loop", String.valueOf(loop.index()));
        }
        type(sb, "nioproxy_loop_turn_failures_total", "counter",
                "Loop turns that failed outside any handler (a bug: logged, and the loop pauses 10 ms).");
        for (EventLoop loop : loops) {
            sample(sb, "nioproxy_loop_turn_failures_total", loop.turnFailures(), "loop", String.valueOf(loop.index()));
        }
        if (proxy.accessLog() != null) {
            type(sb, "nioproxy_access_log_lines_total", "counter", "Access-log lines written.");
            sample(sb, "nioproxy_access_log_lines_total", proxy.accessLog().written());
            type(sb, "nioproxy_access_log_dropped_total", "counter",
                    "Access-log lines dropped because the writer fell behind.");
            sample(sb, "nioproxy_access_log_dropped_total", proxy.accessLog().dropped());
        }
        return sb.toString();
    }

    private void summaries(StringBuilder sb, List<Listener> listeners) {
        type(sb, "nioproxy_backend_connect_seconds", "summary", "Time to connect to a backend (successful attempts).");
        for (Listener l : listeners) {
            Histogram h = l.route().connectTimes().snapshot();
            summary(sb, "nioproxy_backend_connect_seconds", h, 1e-6, name(l));
        }
        type(sb, "nioproxy_session_duration_seconds", "summary", "Lifetime of sessions that reached a backend.");
        for (Listener l : listeners) {
            Histogram h = l.route().sessionDurations().snapshot();
            summary(sb, "nioproxy_session_duration_seconds", h, 1e-3, name(l));
        }
    }

    private static void summary(StringBuilder sb, String name, Histogram h, double unit, String listener) {
        for (double q : QUANTILES) {
            double v = h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(q * 100) * unit;
            sample(sb, name, v, "listener", listener, "quantile", String.valueOf(q));
        }
        // HdrHistogram keeps no exact sum: the mean times the count is the sum within its precision (2 digits)
        sample(sb, name + "_sum", h.getTotalCount() == 0 ? 0 : h.getMean() * h.getTotalCount() * unit, "listener", listener);
        sample(sb, name + "_count", h.getTotalCount(), "listener", listener);
    }

    /** A value per backend of every listener. */
    interface PerBackend {
        double value(Listener l, Backend b);
    }

    private static void family(StringBuilder sb, List<Listener> listeners, String name, String type, String help,
                               PerBackend f) {
        type(sb, name, type, help);
        for (Listener l : listeners) {
            for (Backend b : l.backends()) {
                sample(sb, name, f.value(l, b), "listener", name(l), "backend", b.identity());
            }
        }
    }

    private static String name(Listener l) {
        return l.config().name();
    }


    private static void type(StringBuilder sb, String name, String type, String help) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    static void sample(StringBuilder sb, String name, double value, String... labels) {
        sb.append(name);
        if (labels.length > 0) {
            sb.append('{');
            for (int i = 0; i < labels.length; i += 2) {
                if (i > 0) {
                    sb.append(',');
                }
                sb.append(labels[i]).append("=\"").append(escape(labels[i + 1])).append('"');
            }
            sb.append('}');
        }
        sb.append(' ');
        if (Double.isNaN(value)) {
            sb.append("NaN");
        } else if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            sb.append((long) value);
        } else {
            sb.append(String.format(Locale.ROOT, "%.9g", value));
        }
        sb.append('\n');
    }

    static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
