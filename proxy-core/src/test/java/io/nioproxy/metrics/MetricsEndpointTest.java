package io.nioproxy.metrics;

import io.nioproxy.Proxy;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /metrics} and {@code /connections} against what the test did: counters, gauges and summaries parsed by the
 * text-format rules and compared with the exact connections and bytes sent.
 */
class MetricsEndpointTest {
    static byte[] roundTrip(Socket s, int size) throws Exception {
        byte[] data = new byte[size];
        new java.util.Random(size).nextBytes(data);
        s.getOutputStream().write(data);
        byte[] back = s.getInputStream().readNBytes(size);
        assertArrayEquals(data, back);
        return back;
    }

    /**
     * Scrapes on a kept-open connection, as Prometheus and the dashboard make them, are answered at once. The JDK's
     * HTTP server writes a response's headers and its body apart; with Nagle's algorithm on its sockets the body
     * waited for the client to acknowledge the headers, and Linux delays that acknowledgement by at least 40 ms once
     * a connection is past its first exchanges: every request after the first few took 44–46 ms. The fastest of
     * twenty later requests is what is compared — noise only makes requests slower — so the bound can be tight.
     */
    @Test
    void keptOpenScrapesAreNotHeldForTheClientsDelayedAcknowledgement() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            Proxy p = h.start("proxy.backends", h.add(TcpServer.echo()).address(), "proxy.admin", "127.0.0.1:0");
            try (Socket s = new Socket(p.adminAddress().getAddress(), p.adminAddress().getPort())) {
                s.setSoTimeout(10_000);
                long fastest = Long.MAX_VALUE;
                for (int i = 0; i < 40; i++) {
                    long start = System.nanoTime();
                    String body = keptOpenGet(s, "/metrics");
                    long took = System.nanoTime() - start;
                    assertTrue(body.contains("nioproxy_connections_accepted_total"), body);
                    if (i >= 20) { // past the connection's quick acknowledgements
                        fastest = Math.min(fastest, took);
                    }
                }
                assertTrue(fastest < Duration.ofMillis(30).toNanos(),
                        "fastest of 20 kept-open scrapes took " + fastest / 1_000 + " µs (a delayed ACK is 40 ms)");
            }
        }
    }

    /** One HTTP/1.1 GET on a connection left open, as a scraper makes it; the body, read to its Content-Length. */
    static String keptOpenGet(Socket s, String path) throws Exception {
        String request = "GET " + path + " HTTP/1.1\r\nHost: admin\r\n\r\n";
        s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            assertTrue(b >= 0, "connection closed after " + head);
            head.append((char) b);
        }
        assertTrue(head.toString().startsWith("HTTP/1.1 200"), head.toString());
        Matcher length = Pattern.compile("(?i)content-length: (\\d+)").matcher(head);
        assertTrue(length.find(), "a fixed-length reply keeps the connection open: " + head);
        return new String(in.readNBytes(Integer.parseInt(length.group(1))), StandardCharsets.UTF_8);
    }

    @Test
    void countersMatchWhatTheClientsDid() throws Exception {
        try (ProxyHarness h = new ProxyHarness()) {
            List<String> addrs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                addrs.add(h.add(TcpServer.echo()).address());
            }
            Proxy p = h.start("proxy.backends", String.join(",", addrs), "proxy.admin", "127.0.0.1:0",
                    "proxy.balance", "round-robin");
            long sent = 0;
            for (int i = 0; i < 20; i++) {
                try (Socket s = connect(p, null)) {
                    roundTrip(s, 1000 + i);
                    sent += 1000 + i;
                    s.shutdownOutput();
                    assertEquals(-1, s.getInputStream().read());
                }
            }
            Socket[] live = new Socket[3];
            long liveBytes = 0;
            for (int i = 0; i < 3; i++) {
                live[i] = connect(p, "127.0.0." + (21 + i));
                roundTrip(live[i], 500 * (i + 1));
                liveBytes += 500 * (i + 1);
            }
            long total = sent + liveBytes;
            await("20 sessions closed", Duration.ofSeconds(5), () -> p.listeners().get(0).route().closed() == 20);

            Http.Response r = Http.request(p.adminAddress(), "GET", "/metrics");
            assertEquals(200, r.status());
            PrometheusText m = PrometheusText.parse(r.body());
            assertEquals(23, m.value("nioproxy_connections_accepted_total", "listener", "default"));
            assertEquals(3, m.value("nioproxy_connections_active", "listener", "default"));
            assertEquals(20, m.value("nioproxy_connections_closed_total", "listener", "default", "reason", "client_closed"));
            assertEquals(20, m.sum("nioproxy_connections_closed_total"));
            assertEquals(total, m.value("nioproxy_bytes_total", "direction", "up"), "up bytes, live sessions included");
            assertEquals(total, m.value("nioproxy_bytes_total", "direction", "down"));
            assertEquals(total, m.sum("nioproxy_backend_bytes_total", "direction", "up"));
            assertEquals(total, m.sum("nioproxy_backend_bytes_total", "direction", "down"));
            assertEquals(3, m.sum("nioproxy_backend_active_sessions"));
            assertEquals(23, m.sum("nioproxy_backend_sessions_total"));
            assertEquals(23, m.sum("nioproxy_backend_connect_attempts_total"));
            assertEquals(0, m.sum("nioproxy_backend_connect_failures_total"));
            assertEquals(3, m.sum("nioproxy_backend_up"));
            assertEquals(23, m.value("nioproxy_backend_connect_seconds_count", "listener", "default"));
            double p50 = m.value("nioproxy_backend_connect_seconds", "listener", "default", "quantile", "0.5");
            assertTrue(p50 > 0 && p50 < 1, "loopback connect p50 in seconds: " + p50);
            assertEquals(20, m.value("nioproxy_session_duration_seconds_count", "listener", "default"));
            assertEquals(0, m.sum("nioproxy_buffers_in_use"), "idle sessions hold no buffer");
            assertEquals("summary", m.types.get("nioproxy_session_duration_seconds"));
            assertEquals("counter", m.types.get("nioproxy_bytes_total"));
            assertEquals("gauge", m.types.get("nioproxy_connections_active"));
            double busy = m.sum("nioproxy_loop_busy_seconds_total");
            assertTrue(busy > 0, "loops did some work: " + busy);

            // the connection table, filtered, and closing one client's sessions
            Http.Response all = Http.request(p.adminAddress(), "GET", "/connections");
            assertEquals(200, all.status());
            assertEquals(3, all.body().split("\"id\":").length - 1, all.body());
            Http.Response one = Http.request(p.adminAddress(), "GET", "/connections?client=127.0.0.22");
            assertTrue(one.body().contains("\"client\":\"127.0.0.22:") && one.body().contains("\"bytes_up\":1000,\"bytes_down\":1000")
                    && one.body().split("\"id\":").length == 2, one.body());
            assertTrue(one.body().contains("\"state\":\"relaying\""), one.body());
            Http.Response byBackend = Http.request(p.adminAddress(), "GET", "/connections?backend=" + addrs.get(0));
            assertEquals(200, byBackend.status());
            Http.Response closed = Http.request(p.adminAddress(), "POST", "/connections/close?client=127.0.0.22");
            assertEquals("{\"closed\":1}", closed.body());
            InputStream in = live[1].getInputStream();
            assertEquals(-1, in.read(), "the closed client sees the end");
            assertEquals(400, Http.request(p.adminAddress(), "POST", "/connections/close").status());
            assertEquals(400, Http.request(p.adminAddress(), "GET", "/connections?id=x").status());
            await("admin close counted", Duration.ofSeconds(5),
                    () -> p.listeners().get(0).route().closedFor(io.nioproxy.relay.Session.CloseReason.ADMIN_CLOSED) == 1);
            PrometheusText after = PrometheusText.parse(Http.request(p.adminAddress(), "GET", "/metrics").body());
            assertEquals(1, after.value("nioproxy_connections_closed_total", "reason", "admin_closed"));
            assertEquals(2, after.value("nioproxy_connections_active"));
            assertEquals(total, after.value("nioproxy_bytes_total", "direction", "up"), "closing keeps the byte count");
            for (Socket s : live) {
                s.close();
            }
        }
    }

    @Test
    void theParserRejectsWhatPrometheusWould() {
        String ok = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\"} 1\n";
        assertEquals(1, PrometheusText.parse(ok).value("a_total"));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> PrometheusText.parse("a_total 1\n"), "sample before TYPE");
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> PrometheusText.parse(
                "# HELP a_total x\n# TYPE a_total counter\n# HELP b x\n# TYPE b gauge\na_total 1\nb 1\na_total{x=\"1\"} 2\n"),
                "family not contiguous");
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> PrometheusText.parse("# HELP a x\n# TYPE a counter\na 1\n"), "counter without _total");
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> PrometheusText.parse("# HELP a x\n# TYPE a gauge\na{l=v} 1\n"), "unquoted label");
    }
}
