package io.nioproxy.metrics;

import io.nioproxy.Proxy;
import io.nioproxy.testing.Http;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static io.nioproxy.testing.ProxyHarness.readLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dashboard in a real browser (Debian's headless Chromium, installed by .ci/run): loaded while traffic flows,
 * the numbers it renders are checked against {@code /backends}, and a screenshot is saved to docs/ for the README.
 */
class DashboardBrowserTest {
    static final Pattern ROW = Pattern.compile(
            "<tr data-backend=\"([^\"]+)\" data-listener=\"([^\"]+)\" data-active=\"(\\d+)\" data-state=\"(\\w+)\">(.*?)</tr>");
    static final Pattern JSON_BACKEND = Pattern.compile("\"address\":\"([^\"]+)\",\"state\":\"(\\w+)\",\"active\":(\\d+)");

    static String chromium() {
        for (String c : new String[] {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
            if (new File(c).canExecute()) {
                return c;
            }
        }
        if (System.getenv("CI") != null) {
            throw new AssertionError("headless Chromium is required in CI (.ci/run installs Debian's chromium)");
        }
        Assumptions.abort("no Chromium on this machine (.ci/run installs it)");
        return null;
    }

    static String run(Path profile, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + profile));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "chromium finished");
        return out;
    }

    @Test
    void dashboardShowsTheLiveBackendsAsTheApiDoes(@TempDir Path tmp) throws Exception {
        chromium();
        try (ProxyHarness h = new ProxyHarness()) {
            List<String> addrs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                addrs.add(h.add(TcpServer.named("b" + i)).address());
            }
            Proxy p = h.start("proxy.backends", String.join(",", addrs), "proxy.admin", "127.0.0.1:0",
                    "proxy.balance", "round-robin", "proxy.workers", "2");
            // seven sessions (3, 2, 2 per backend), each echoing a little every 20 ms while the page is loaded
            AtomicBoolean running = new AtomicBoolean(true);
            List<Thread> traffic = new ArrayList<>();
            List<Socket> sockets = new ArrayList<>();
            for (int i = 0; i < 7; i++) {
                Socket s = connect(p, null);
                readLine(s.getInputStream());
                sockets.add(s);
                Thread t = new Thread(() -> {
                    byte[] chunk = new byte[4096];
                    try {
                        while (running.get()) {
                            s.getOutputStream().write(chunk);
                            s.getInputStream().readNBytes(chunk.length);
                            Thread.sleep(20);
                        }
                    } catch (Exception e) {
                        // closing
                    }
                });
                t.start();
                traffic.add(t);
            }
            await("history has samples with the sessions", Duration.ofSeconds(10), () -> {
                var samples = p.history().samples();
                return samples.size() >= 4 && samples.get(samples.size() - 1).points().stream()
                        .mapToInt(History.Point::active).sum() == 7;
            });
            String url = "http://127.0.0.1:" + p.adminAddress().getPort() + "/";
            String dom = run(tmp.resolve("profile1"), "--virtual-time-budget=3000", "--dump-dom", url);
            String api = Http.request(p.adminAddress(), "GET", "/backends").body();

            Map<String, Integer> apiActive = new HashMap<>();
            Map<String, String> apiState = new HashMap<>();
            Matcher jm = JSON_BACKEND.matcher(api);
            while (jm.find()) {
                apiActive.put(jm.group(1), Integer.parseInt(jm.group(3)));
                apiState.put(jm.group(1), jm.group(2));
            }
            assertEquals(3, apiActive.size(), api);
            Map<String, Integer> shownActive = new HashMap<>();
            Matcher rm = ROW.matcher(dom);
            int rowsWithThroughput = 0;
            while (rm.find()) {
                shownActive.put(rm.group(1), Integer.parseInt(rm.group(3)));
                assertEquals(apiState.get(rm.group(1)), rm.group(4), "state shown for " + rm.group(1));
                if (!rm.group(5).contains("<td>0 B/s</td><td>0 B/s</td>")) {
                    rowsWithThroughput++;
                }
            }
            assertEquals(apiActive, shownActive, "active sessions per backend: page vs /backends\n" + dom);
            assertEquals(3, rowsWithThroughput, "every backend shows traffic flowing");
            Matcher total = Pattern.compile("id=\"total-active\" data-total=\"(\\d+)\"").matcher(dom);
            assertTrue(total.find());
            assertEquals(7, Integer.parseInt(total.group(1)));
            Matcher spread = Pattern.compile("id=\"spread\" data-spread=\"([0-9.]+)\"").matcher(dom);
            assertTrue(spread.find(), "spread shown");
            double mean = 7 / 3.0;
            double max = apiActive.values().stream().mapToInt(Integer::intValue).max().orElseThrow();
            assertEquals(max / mean, Double.parseDouble(spread.group(1)), 0.001, "spread = max/mean");
            assertTrue(dom.contains("<polyline"), "charts drawn");
            assertTrue(dom.contains("id=\"rebalance\" data-pending=\"0\">idle<"), "no rebalance in progress shown");
            var registry = p.listeners().get(0).registry();
            String card = "id=\"membership\" data-generation=\"" + registry.generation() + "\"";
            int at = dom.indexOf(card);
            assertTrue(at >= 0, "the membership card with its generation: " + dom);
            assertTrue(dom.startsWith("gen " + registry.generation() + " · "
                    + Long.toHexString(registry.digest()).substring(0, 6) + "<", dom.indexOf('>', at) + 1),
                    "the membership's generation and digest shown: " + dom.substring(at, Math.min(dom.length(), at + 120)));

            Path shot = tmp.resolve("dashboard.png");
            run(tmp.resolve("profile2"), "--virtual-time-budget=3000", "--window-size=1280,860",
                    "--screenshot=" + shot, url);
            assertTrue(Files.size(shot) > 10_000, "a real screenshot: " + Files.size(shot) + " bytes");
            byte[] png = Files.readAllBytes(shot);
            assertEquals((byte) 0x89, png[0]);
            assertEquals('P', png[1]);
            // The charts are really drawn: count the line colours' pixels inside the two chart boxes.
            java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(shot.toFile());
            int coloured = 0;
            for (int y = img.getHeight() / 3; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    int rgb = img.getRGB(x, y);
                    int r = (rgb >> 16) & 0xff;
                    int g = (rgb >> 8) & 0xff;
                    int b = rgb & 0xff;
                    if (Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) > 80) {
                        coloured++;
                    }
                }
            }
            assertTrue(coloured > 1500, "chart lines drawn in the screenshot: " + coloured + " coloured pixels");
            Path docs = Path.of("..", "docs");
            if (Files.isDirectory(docs)) {
                Files.copy(shot, docs.resolve("dashboard.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            running.set(false);
            for (Thread t : traffic) {
                t.join(5000);
            }
            for (Socket s : sockets) {
                s.close();
            }
        }
    }
}
