package io.nioproxy.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.nioproxy.view.ProxyView;
import io.nioproxy.balance.Backend;
import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.config.BackendSpec;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.Durations;
import io.nioproxy.config.HostPort;
import io.nioproxy.control.BackendSource;
import io.nioproxy.control.etcd.EtcdMembership;
import io.nioproxy.listener.Listener;
import io.nioproxy.control.Resolver;
import io.nioproxy.log.Log;
import io.nioproxy.metrics.History;
import io.nioproxy.metrics.PrometheusExporter;
import io.nioproxy.relay.LoopSnapshot;
import io.nioproxy.relay.Session;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The admin HTTP endpoint ({@code proxy.admin=HOST:PORT}, off unless set), on the JDK's built-in HTTP server — no
 * dependency, and never on an event loop: it has its own thread and reaches the loops only through the registry's
 * published snapshots and loop tasks.
 *
 * <pre>
 * GET  /                                         the live dashboard (HTML, no external asset)
 * GET  /metrics                                  Prometheus text format
 * GET  /connections[?backend=H:P][&amp;client=IP]    live sessions as JSON; POST /connections/close?client=IP or ?id=N
 * GET  /api/history                              the dashboard's samples (last 5 minutes, one a second)
 * GET  /healthz                                  200 "ok" once the listeners are bound (and how etcd answers)
 * GET  /membership                               generation and digest of every pool's membership; etcd's state
 * GET  /backends[?listener=NAME]                 [{listener, kind, address, state, active, weight, sessions, ...}]
 * POST /backends?address=H:P[&amp;weight=W][&amp;listener=NAME]          add (or re-weight and bring back)
 * POST /backends/drain?address=H:P[&amp;timeout=30s][&amp;listener=NAME]  no new clients; sessions end or hit the deadline
 * POST /backends/remove?address=H:P[&amp;listener=NAME]               no new clients; leaves once its sessions ended
 * POST /backends/weight?address=H:P&amp;weight=W[&amp;listener=NAME]       new weight
 * </pre>
 * {@code listener} may be left out when there is one listener and no pool; {@code pool=NAME} is the same parameter
 * for a pool ({@code kind} tells them apart in {@code /backends}). Errors: 400 (bad request) or 404 (unknown backend,
 * listener or pool), with {@code {"error": "..."}}. With {@code proxy.etcd.endpoints} set, the four changes are written
 * to etcd and reach every instance through its watch ({@link FleetWrites}); 503 when etcd does not take them.
 *
 * <p>Bind it to a loopback or management address: it has no authentication.
 */
public final class AdminServer {
    private static final String NODELAY = "sun.net.httpserver.nodelay";

    private final ProxyView proxy;
    private final History history;
    private final HttpServer server;
    private final ExecutorService executor;

    private final PrometheusExporter exporter;

    private AdminServer(ProxyView proxy, History history, HttpServer server, ExecutorService executor) {
        this.proxy = proxy;
        this.history = history;
        this.exporter = new PrometheusExporter(proxy);
        this.server = server;
        this.executor = executor;
    }

    /**
     * The JDK's HTTP server with Nagle's algorithm off on the sockets it accepts, unless the operator chose
     * otherwise ({@code -Dsun.net.httpserver.nodelay}). It writes a response's headers and its body apart; with Nagle
     * on, the body waits until the client acknowledges the headers, and a client delays that acknowledgement up to
     * 40 ms, so every request on a kept-open connection (a Prometheus scrape, the dashboard's poll) would wait for it
     * ({@code MetricsEndpointTest}). The JDK reads the property once, when its server is first used.
     */
    public static HttpServer newHttpServer(InetSocketAddress address, int backlog) throws IOException {
        if (System.getProperty(NODELAY) == null) {
            System.setProperty(NODELAY, "true");
        }
        return HttpServer.create(address, backlog);
    }

    /**
     * @param history the dashboard's samples (sampled by its owner)
     * @throws ConfigException when the address cannot be bound
     */
    public static AdminServer start(ProxyView proxy, History history, HostPort address) {
        HttpServer server;
        try {
            server = newHttpServer(address.resolve("proxy.admin"), 64);
        } catch (IOException e) {
            throw ConfigException.bad("proxy.admin", address.toString(), "cannot listen there: " + e.getMessage());
        }
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "nioproxy-admin");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        AdminServer admin = new AdminServer(proxy, history, server, executor);
        server.createContext("/healthz", ex -> admin.handle(ex, admin::healthz));
        server.createContext("/backends", ex -> admin.handle(ex, admin::backends));
        server.createContext("/membership", ex -> admin.handle(ex, admin::membership));
        server.createContext("/metrics", ex -> admin.handle(ex, admin::metrics));
        server.createContext("/connections", ex -> admin.handle(ex, admin::connections));
        server.createContext("/api/history", ex -> admin.handle(ex, admin::history));
        server.createContext("/rebalance", ex -> admin.handle(ex, admin::rebalance));
        server.createContext("/", ex -> admin.handle(ex, admin::dashboard));
        server.start();
        return admin;
    }

    public InetSocketAddress address() {
        return server.getAddress();
    }

    public void stop() {
        server.stop(0);
        executor.shutdownNow();
    }

    /** A response: status, body, and its content type (null: JSON or text, guessed from the body). */
    record Reply(int status, String body, String contentType) {
        Reply(int status, String body) {
            this(status, body, null);
        }
    }

    interface Route {
        Reply serve(HttpExchange ex, Map<String, String> query) throws IOException;
    }

    private void handle(HttpExchange ex, Route route) throws IOException {
        Reply reply;
        try {
            reply = route.serve(ex, query(ex));
        } catch (BadRequest e) {
            reply = new Reply(e.status, Json.error(e.getMessage()));
        } catch (RuntimeException e) {
            Log.error("admin " + ex.getRequestMethod() + " " + ex.getRequestURI() + " failed", e);
            reply = new Reply(500, Json.error(e.toString()));
        }
        byte[] body = reply.body().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", reply.contentType() != null ? reply.contentType()
                : reply.body().startsWith("{") || reply.body().startsWith("[") ? "application/json" : "text/plain; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(reply.status(), body.length == 0 ? -1 : body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }

    /**
     * {@code POST /rebalance?listener=NAME[&dry_run=true]}: the plan now, and (unless a dry run) start it;
     * {@code POST /rebalance/stop?listener=NAME}: stop the one in progress; {@code GET /rebalance?listener=NAME}: its
     * state.
     */
    private Reply rebalance(HttpExchange ex, Map<String, String> q) throws IOException {
        ex.getRequestBody().readAllBytes();
        String path = ex.getRequestURI().getPath();
        io.nioproxy.rebalance.Rebalancer r = proxy.rebalancer(registry(q).listener());
        if (path.equals("/rebalance/stop")) {
            requirePost(ex);
            return new Reply(200, "{\"stopped\":" + (r.running() != null) + ",\"dropped\":" + r.stop() + "}");
        }
        if (!path.equals("/rebalance") && !path.equals("/rebalance/")) {
            throw new BadRequest(404, "no such endpoint: " + path);
        }
        if (ex.getRequestMethod().equals("GET")) {
            return new Reply(200, "{\"running\":" + (r.running() == null ? "null" : Json.string(r.running()))
                    + ",\"pending\":" + r.pending() + ",\"spread\":" + round(r.spread())
                    + ",\"sessions_moved\":" + r.sessionsMoved() + "}");
        }
        requirePost(ex);
        boolean dry = "true".equals(q.get("dry_run"));
        io.nioproxy.rebalance.Rebalancer.Plan plan = dry ? r.plan() : r.run("admin");
        StringBuilder sb = new StringBuilder("{\"dry_run\":").append(dry)
                .append(",\"spread\":").append(round(plan.spread()))
                .append(",\"tolerance\":").append(round(plan.tolerance()))
                .append(",\"moves\":[");
        for (int i = 0; i < plan.moves().size(); i++) {
            var m = plan.moves().get(i);
            sb.append(i == 0 ? "" : ",").append("{\"client\":").append(Json.string(m.client()))
                    .append(",\"from\":").append(Json.string(m.from()))
                    .append(",\"to\":").append(Json.string(m.to()))
                    .append(",\"sessions\":").append(m.sessions()).append('}');
        }
        return new Reply(200, sb.append("]}").toString());
    }

    private static String round(double v) {
        return String.format(java.util.Locale.ROOT, "%.3f", v);
    }

    private static void requirePost(HttpExchange ex) {
        if (!ex.getRequestMethod().equals("POST")) {
            throw new BadRequest(405, "use POST for " + ex.getRequestURI().getPath());
        }
    }

    /**
     * Ready once the listeners are bound. etcd's trouble does not make an instance unready: it serves the last
     * membership it had, and a fleet whose readiness followed etcd would all leave the front tier at once.
     */
    private Reply healthz(HttpExchange ex, Map<String, String> q) {
        EtcdMembership m = proxy.membership();
        if (m == null) {
            return new Reply(200, "ok\n");
        }
        String etcd = m.healthy() ? "etcd: ok, revision " + m.revision() + " via " + m.endpoint()
                : "etcd: unreachable since " + java.time.Instant.ofEpochMilli(m.problemSinceMillis()) + " ("
                + m.problem() + "); serving the membership of revision " + m.revision();
        return new Reply(200, "ok\n" + etcd + "\n", "text/plain; charset=utf-8");
    }

    /** {@code GET /membership}: which membership each pool has, and where it comes from. */
    private Reply membership(HttpExchange ex, Map<String, String> q) {
        requireGet(ex);
        EtcdMembership m = proxy.membership();
        StringBuilder sb = new StringBuilder("{\"source\":").append(Json.string(m == null ? "local" : "etcd"));
        if (m != null) {
            sb.append(",\"etcd\":{\"healthy\":").append(m.healthy())
                    .append(",\"endpoint\":").append(Json.string(m.endpoint()))
                    .append(",\"revision\":").append(m.revision())
                    .append(",\"failures\":").append(m.failures())
                    .append(",\"full_reads\":").append(m.fullReads())
                    .append(",\"problem\":").append(m.problem() == null ? "null" : Json.string(m.problem()))
                    .append(",\"prefix\":").append(Json.string(m.config().prefix()))
                    .append('}');
        }
        sb.append(",\"pools\":[");
        boolean first = true;
        for (Listener l : proxy.listeners()) {
            BackendRegistry r = l.registry();
            sb.append(first ? "" : ",").append("{\"name\":").append(Json.string(l.config().name()))
                    .append(",\"generation\":").append(r.generation())
                    .append(",\"digest\":").append(Json.string(Long.toHexString(r.digest())))
                    .append(",\"backends\":").append(r.backends().size())
                    .append('}');
            first = false;
        }
        return new Reply(200, sb.append("]}").toString());
    }

    private static void requireGet(HttpExchange ex) {
        if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
            throw new BadRequest(405, ex.getRequestMethod() + " is not allowed on " + ex.getRequestURI().getPath());
        }
    }

    private Reply metrics(HttpExchange ex, Map<String, String> q) {
        requireGet(ex);
        return new Reply(200, exporter.scrape(), "text/plain; version=0.0.4; charset=utf-8");
    }

    /**
     * {@code GET /connections[?backend=H:P][&client=IP[:PORT]][&listener=NAME]}: the live sessions;
     * {@code POST /connections/close?client=IP[:PORT]} or {@code ?id=N}: close them.
     */
    private Reply connections(HttpExchange ex, Map<String, String> q) throws IOException {
        ex.getRequestBody().readAllBytes();
        String path = ex.getRequestURI().getPath();
        java.util.function.Predicate<Session> filter = sessionFilter(q);
        if (path.equals("/connections/close")) {
            if (!ex.getRequestMethod().equals("POST")) {
                throw new BadRequest(405, "use POST for /connections/close");
            }
            if (!q.containsKey("client") && !q.containsKey("id") && !q.containsKey("backend")) {
                throw new BadRequest(400, "give client=IP[:PORT], id=N or backend=H:P");
            }
            int n = proxy.closeSessions(filter);
            return new Reply(200, "{\"closed\":" + n + "}");
        }
        if (!path.equals("/connections") && !path.equals("/connections/")) {
            throw new BadRequest(404, "no such endpoint: " + path);
        }
        requireGet(ex);
        StringBuilder sb = new StringBuilder("[");
        for (LoopSnapshot snap : proxy.snapshot(true, filter)) {
            for (LoopSnapshot.SessionRow r : snap.sessions) {
                if (sb.length() > 1) {
                    sb.append(',');
                }
                sb.append("{\"id\":").append(r.id())
                        .append(",\"listener\":").append(Json.string(r.listener()));
                if (r.pool() != null) {
                    sb.append(",\"pool\":").append(Json.string(r.pool()))
                            .append(",\"server_name\":").append(r.serverName() == null ? "null"
                                    : Json.string(r.serverName()));
                }
                sb.append(",\"client\":").append(Json.string(r.client()))
                        .append(",\"backend\":").append(r.backend() == null ? "null" : Json.string(r.backend()))
                        .append(",\"backend_local\":").append(r.backendLocal() == null ? "null"
                                : Json.string(r.backendLocal()))
                        .append(",\"state\":").append(Json.string(r.state()))
                        .append(",\"age_seconds\":").append(r.ageMillis() / 1000.0)
                        .append(",\"idle_seconds\":").append(r.idleMillis() / 1000.0)
                        .append(",\"bytes_up\":").append(r.bytesUp())
                        .append(",\"bytes_down\":").append(r.bytesDown())
                        .append('}');
            }
        }
        return new Reply(200, sb.append(']').toString());
    }

    private static java.util.function.Predicate<Session> sessionFilter(Map<String, String> q) {
        String backend = q.get("backend");
        String client = q.get("client");
        String listener = q.get("listener");
        String id = q.get("id");
        long wantedId;
        try {
            wantedId = id == null ? -1 : Long.parseLong(id);
        } catch (NumberFormatException e) {
            throw new BadRequest(400, "id=" + id + ": expected a session id");
        }
        return s -> (backend == null || (s.backend() != null && s.relaying() && s.backend().identity().equals(backend)))
                && (listener == null || s.front().config().name().equals(listener)
                        || s.route().config().name().equals(listener))
                && (wantedId < 0 || s.id() == wantedId)
                && (client == null || matchesClient(s, client));
    }

    private static boolean matchesClient(Session s, String client) {
        InetSocketAddress a = s.clientAddress();
        if (a == null) {
            return false;
        }
        String full = Backend.identityOf(a);
        String ip = a.getAddress().getHostAddress();
        return client.equals(full) || client.equals(ip);
    }

    private Reply history(HttpExchange ex, Map<String, String> q) {
        requireGet(ex);
        return new Reply(200, historyJson());
    }

    private String historyJson() {
        StringBuilder sb = new StringBuilder(16384);
        sb.append("{\"interval_ms\":").append(History.INTERVAL_MILLIS).append(",\"samples\":[");
        boolean first = true;
        for (History.Sample s : history.samples()) {
            sb.append(first ? "" : ",").append("{\"t\":").append(s.timeMillis()).append(",\"points\":[");
            first = false;
            boolean firstPoint = true;
            for (History.Point p : s.points()) {
                sb.append(firstPoint ? "" : ",").append("{\"listener\":").append(Json.string(p.listener()))
                        .append(",\"pool\":").append(p.pool())
                        .append(",\"backend\":").append(Json.string(p.backend()))
                        .append(",\"state\":").append(Json.string(p.state()))
                        .append(",\"active\":").append(p.active())
                        .append(",\"up_bps\":").append(Math.round(p.upBytesPerSecond()))
                        .append(",\"down_bps\":").append(Math.round(p.downBytesPerSecond()))
                        .append('}');
                firstPoint = false;
            }
            sb.append("],\"rebalancing\":{");
            boolean firstR = true;
            for (Map.Entry<String, Integer> r : s.rebalancing().entrySet()) {
                sb.append(firstR ? "" : ",").append(Json.string(r.getKey())).append(':').append(r.getValue());
                firstR = false;
            }
            sb.append("}}");
        }
        // which membership each pool has now (the fleet's instances compare these), and where it comes from
        EtcdMembership m = proxy.membership();
        sb.append("],\"membership\":{\"source\":").append(Json.string(m == null ? "local" : "etcd"))
                .append(",\"etcd\":").append(m == null ? "null" : Json.string(m.healthy() ? "ok"
                        : "unreachable: " + m.problem()))
                .append(",\"pools\":{");
        boolean firstPool = true;
        for (Listener l : proxy.listeners()) {
            sb.append(firstPool ? "" : ",").append(Json.string(l.config().name()))
                    .append(":{\"generation\":").append(l.registry().generation())
                    .append(",\"digest\":").append(Json.string(Long.toHexString(l.registry().digest()))).append('}');
            firstPool = false;
        }
        return sb.append("}}}").toString();
    }

    private Reply dashboard(HttpExchange ex, Map<String, String> q) throws IOException {
        requireGet(ex);
        String path = ex.getRequestURI().getPath();
        if (!path.equals("/") && !path.equals("/index.html")) {
            throw new BadRequest(404, "no such page: " + path);
        }
        String page;
        try (var in = AdminServer.class.getResourceAsStream("dashboard.html")) {
            if (in == null) {
                throw new IOException("dashboard.html missing from the jar");
            }
            page = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        // The page carries the recent history, so it draws at once; then it polls /api/history every second.
        return new Reply(200, page.replace("/*INITIAL*/null", historyJson()), "text/html; charset=utf-8");
    }

    private Reply backends(HttpExchange ex, Map<String, String> q) throws IOException {
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        ex.getRequestBody().readAllBytes();
        if (path.equals("/backends") || path.equals("/backends/")) {
            if (method.equals("GET")) {
                return new Reply(200, list(q.containsKey("pool") ? q.get("pool") : q.get("listener")));
            }
            if (method.equals("POST") || method.equals("PUT")) {
                return add(q);
            }
            if (method.equals("DELETE")) {
                return remove(q);
            }
            throw new BadRequest(405, method + " is not allowed on /backends");
        }
        if (!method.equals("POST")) {
            throw new BadRequest(405, "use POST for " + path);
        }
        return switch (path) {
            case "/backends/drain" -> drain(q);
            case "/backends/remove" -> remove(q);
            case "/backends/weight" -> weight(q);
            default -> throw new BadRequest(404, "no such endpoint: " + path);
        };
    }

    private String list(String listenerName) {
        StringBuilder sb = new StringBuilder("[");
        for (Listener l : proxy.listeners()) {
            if (listenerName != null && !l.config().name().equals(listenerName)) {
                continue;
            }
            for (Backend b : l.registry().backends()) {
                if (sb.length() > 1) {
                    sb.append(',');
                }
                sb.append('{')
                        .append("\"listener\":").append(Json.string(l.config().name()))
                        .append(",\"address\":").append(Json.string(b.identity()))
                        .append(",\"state\":").append(Json.string(b.removed() ? "removed" : b.state().label()))
                        .append(",\"active\":").append(b.active())
                        .append(",\"weight\":").append(b.weight())
                        .append(",\"sessions\":").append(b.sessions())
                        .append(",\"connect_failures\":").append(b.connectFailures())
                        .append(",\"source\":").append(Json.string(b.source()))
                        .append(",\"kind\":").append(Json.string(l.config().pool() ? "pool" : "listener"))
                        .append(",\"generation\":").append(l.registry().generation())
                        .append('}');
            }
        }
        return sb.append(']').toString();
    }

    private Reply add(Map<String, String> q) {
        BackendRegistry r = registry(q);
        int weight = weightParam(q, 1);
        HostPort hp = hostPort(q);
        List<InetSocketAddress> addresses;
        try {
            addresses = Resolver.lookup(hp);
        } catch (UnknownHostException e) {
            throw new BadRequest(400, "address " + hp + " does not resolve");
        }
        if (proxy.membership() != null) {
            return new Reply(200, new FleetWrites(proxy.membership()).add(r.listener(), addresses, weight));
        }
        StringBuilder added = new StringBuilder("[");
        for (InetSocketAddress a : addresses) {
            Backend b = r.add(a, weight, BackendSource.ADMIN_SOURCE);
            added.append(added.length() > 1 ? "," : "").append(Json.string(b.identity()));
        }
        return new Reply(200, "{\"added\":" + added.append(']') + "}");
    }

    private Reply drain(Map<String, String> q) {
        BackendRegistry r = registry(q);
        Backend b = backend(r, q);
        long timeout = proxy.listener(r.listener()).config().drainTimeoutNanos();
        if (q.containsKey("timeout")) {
            try {
                timeout = Durations.parseNanos("timeout", q.get("timeout"));
            } catch (ConfigException e) {
                throw new BadRequest(400, e.getMessage());
            }
        }
        if (proxy.membership() != null) {
            return new Reply(200, new FleetWrites(proxy.membership()).drain(r.listener(), b,
                    q.containsKey("timeout") ? timeout : -1));
        }
        r.drain(b.identity(), timeout == 0 ? Long.MAX_VALUE : System.nanoTime() + timeout);
        return new Reply(200, "{\"draining\":" + Json.string(b.identity()) + ",\"active\":" + b.active() + "}");
    }

    private Reply remove(Map<String, String> q) {
        BackendRegistry r = registry(q);
        Backend b = backend(r, q);
        if (proxy.membership() != null) {
            return new Reply(200, new FleetWrites(proxy.membership()).remove(r.listener(), b));
        }
        r.remove(b.identity());
        return new Reply(200, "{\"removed\":" + Json.string(b.identity()) + ",\"active\":" + b.active() + "}");
    }

    private Reply weight(Map<String, String> q) {
        BackendRegistry r = registry(q);
        Backend b = backend(r, q);
        if (!q.containsKey("weight")) {
            throw new BadRequest(400, "give weight=1.." + BackendSpec.MAX_WEIGHT);
        }
        if (proxy.membership() != null) {
            return new Reply(200, new FleetWrites(proxy.membership()).weight(r.listener(), b, weightParam(q, 1)));
        }
        r.reweight(b.identity(), weightParam(q, 1));
        return new Reply(200, "{\"address\":" + Json.string(b.identity()) + ",\"weight\":" + b.weight() + "}");
    }

    /** The backends of {@code listener=NAME} or {@code pool=NAME} (either names either: names are unique). */
    private BackendRegistry registry(Map<String, String> q) {
        String name = q.containsKey("pool") ? q.get("pool") : q.get("listener");
        List<Listener> all = proxy.listeners();
        if (name == null) {
            if (all.size() != 1) {
                throw new BadRequest(400, "several listeners or pools: give listener=NAME or pool=NAME");
            }
            return all.get(0).registry();
        }
        for (Listener l : all) {
            if (l.config().name().equals(name)) {
                return l.registry();
            }
        }
        throw new BadRequest(404, "no listener or pool " + name);
    }

    private static HostPort hostPort(Map<String, String> q) {
        String address = q.get("address");
        if (address == null) {
            throw new BadRequest(400, "give address=HOST:PORT");
        }
        try {
            return HostPort.parse("address", address);
        } catch (ConfigException e) {
            throw new BadRequest(400, e.getMessage());
        }
    }

    private static Backend backend(BackendRegistry r, Map<String, String> q) {
        HostPort hp = hostPort(q);
        List<InetSocketAddress> addresses;
        try {
            addresses = Resolver.lookup(hp);
        } catch (UnknownHostException e) {
            throw new BadRequest(404, "no backend " + hp);
        }
        for (InetSocketAddress a : addresses) {
            Backend b = r.find(Backend.identityOf(a));
            if (b != null) {
                return b;
            }
        }
        throw new BadRequest(404, "no backend " + hp + " in listener " + r.listener());
    }

    private static int weightParam(Map<String, String> q, int dflt) {
        String w = q.get("weight");
        if (w == null) {
            return dflt;
        }
        try {
            int v = Integer.parseInt(w.trim());
            if (v >= 1 && v <= BackendSpec.MAX_WEIGHT) {
                return v;
            }
        } catch (NumberFormatException e) {
            // one error below
        }
        throw new BadRequest(400, "weight=" + w + ": expected a whole number from 1 to " + BackendSpec.MAX_WEIGHT);
    }

    private static Map<String, String> query(HttpExchange ex) {
        Map<String, String> q = new HashMap<>();
        String raw = ex.getRequestURI().getRawQuery();
        if (raw == null || raw.isEmpty()) {
            return q;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            q.put(k, v);
        }
        return q;
    }

    /** A client error, answered with its status. */
    static final class BadRequest extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int status;

        BadRequest(int status, String message) {
            super(message);
            this.status = status;
        }
    }
}
