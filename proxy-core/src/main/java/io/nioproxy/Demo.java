package io.nioproxy;

import com.sun.net.httpserver.HttpServer;
import io.nioproxy.admin.AdminServer;
import io.nioproxy.config.ProxyConfig;
import io.nioproxy.config.Settings;
import io.nioproxy.log.Log;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

/**
 * {@code --demo}: three small HTTP backends on loopback (the JDK's built-in server; each answers with its name), a
 * balancer in front of them, and a few sample requests from different loopback source addresses to show that each
 * client address sticks to one backend. Then it keeps serving until stopped.
 *
 * <p>Runs on the main thread; adds no dependency.
 */
public final class Demo {
    static final String[] NAMES = {"backend-a", "backend-b", "backend-c"};
    static final String DEFAULT_LISTEN = "127.0.0.1:8080";

    private Demo() {
    }

    public static void run(Properties system, PrintStream out) {
        List<HttpServer> servers = new ArrayList<>();
        try {
            List<String> addresses = new ArrayList<>();
            for (String name : NAMES) {
                HttpServer s = startBackend(name);
                servers.add(s);
                addresses.add("127.0.0.1:" + s.getAddress().getPort());
            }
            Properties props = new Properties();
            for (String k : system.stringPropertyNames()) {
                props.setProperty(k, system.getProperty(k));
            }
            props.setProperty(Settings.BACKENDS.property(), String.join(",", addresses));
            if (!props.containsKey(Settings.LISTEN.property())) {
                props.setProperty(Settings.LISTEN.property(), DEFAULT_LISTEN);
            }
            ProxyConfig config = Settings.from(props).build();
            Proxy proxy = Proxy.start(config);
            Log.info("nioproxy demo started: " + Settings.describe(config));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> servers.forEach(s -> s.stop(0)), "demo-backends-stop"));
            CountDownLatch stopped = Main.stopOnShutdown(proxy);
            Main.logListeners(proxy);
            InetSocketAddress front = proxy.listeners().get(0).boundAddress();
            int port = front.getPort();
            out.println();
            out.println("nioproxy demo: backends " + NAMES[0] + " " + addresses.get(0) + ", " + NAMES[1] + " "
                    + addresses.get(1) + ", " + NAMES[2] + " " + addresses.get(2));
            out.println("balancer on " + front + " (balance " + config.listeners().get(0).balance().configName() + ")");
            out.println("sample connections, two from each client address:");
            for (int i = 2; i <= 9; i++) {
                String source = "127.0.0." + i;
                String first = fetch(source, port);
                String second = fetch(source, port);
                out.printf("  client %-11s -> %s, again -> %s%n", source, first, second);
            }
            out.println();
            out.println("try it:  curl --interface 127.0.0.5 http://127.0.0.1:" + port + "/   (same source, same backend)");
            out.println("Ctrl-C stops the demo.");
            out.flush();
            Main.await(stopped);
        } catch (RuntimeException e) {
            servers.forEach(s -> s.stop(0));
            throw e;
        }
    }

    static HttpServer startBackend(String name) {
        try {
            HttpServer s = AdminServer.newHttpServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 128);
            byte[] body = ("hello from " + name + "\n").getBytes(StandardCharsets.US_ASCII);
            s.createContext("/", exchange -> {
                exchange.getResponseHeaders().add("Content-Type", "text/plain");
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream os = exchange.getResponseBody()) {
                    os.write(body);
                }
            });
            s.start();
            return s;
        } catch (IOException e) {
            throw new IllegalStateException("demo backend " + name + " could not start: " + e, e);
        }
    }

    /** One HTTP/1.0 request through the balancer from {@code source}; returns the backend's name. */
    static String fetch(String source, int port) {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(source, 0));
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
            s.setSoTimeout(5000);
            s.getOutputStream().write("GET / HTTP/1.0\r\nHost: demo\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            String response = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
            int at = response.indexOf("hello from ");
            return at < 0 ? "(no answer)" : response.substring(at + "hello from ".length()).trim();
        } catch (IOException e) {
            return "(failed: " + e.getMessage() + ")";
        }
    }
}
