package io.nioproxy;

import io.nioproxy.config.ConfigException;
import io.nioproxy.config.ProxyConfig;
import io.nioproxy.config.Settings;
import io.nioproxy.log.Log;
import io.nioproxy.sys.Priority;
import io.nioproxy.systemd.Notifier;
import io.nioproxy.takeover.Successor;
import io.nioproxy.takeover.Takeover;
import io.nioproxy.takeover.TakeoverClient;
import io.nioproxy.takeover.TakeoverServer;

import java.io.PrintStream;
import java.util.concurrent.CountDownLatch;

/**
 * The command line: {@code java [-Dproxy.KEY=VALUE ...] -jar nioproxy.jar [--demo | --check | --version | --help]}.
 *
 * <p>Reads and validates the settings (a bad one ends the process with one line naming it and exit status 2),
 * logs the effective settings once, starts the balancer, and runs until SIGTERM or SIGINT, on which it stops
 * accepting, closes the sessions and exits 0.
 */
public final class Main {
    static final int EXIT_CONFIG = 2;

    private Main() {
    }

    public static void main(String[] args) {
        int status = run(args, System.err);
        if (status != 0) {
            System.exit(status);
        }
    }

    /** Runs to completion for --help or an error; otherwise starts the balancer and blocks until shutdown. */
    static int run(String[] args, PrintStream err) {
        boolean demo = false;
        boolean check = false;
        boolean takeover = false;
        for (String a : args) {
            switch (a) {
                case "--demo" -> demo = true;
                case "--check", "-c" -> check = true;
                case "--takeover" -> takeover = true;
                case "--version", "-v" -> {
                    System.out.println(version());
                    return 0;
                }
                case "--help", "-h" -> {
                    err.println(usage());
                    return 0;
                }
                default -> {
                    err.println("nioproxy: unknown argument '" + a + "'; settings are system properties "
                            + "(-Dproxy.KEY=VALUE before -jar); try --help");
                    return EXIT_CONFIG;
                }
            }
        }
        try {
            if (demo) {
                Demo.run(System.getProperties(), System.out);
                return 0;
            }
            ProxyConfig config = Settings.fromSystem().build();
            if (!check) {
                Successor.onHangUp(); // before anyone can send it: the JVM's own answer to SIGHUP is to exit
            }
            if (check) {
                // as haproxy -c and nginx -t: the same validation as a start, the same messages, and nothing started
                System.out.println("nioproxy: configuration is valid");
                System.out.println(Settings.describe(config));
                return 0;
            }
            followDns(config);
            String warmUp = WarmUp.run(config.warmUpRoundTrips(), config.io());
            // warmed up first: the running process serves until this one takes its sockets
            TakeoverClient handover = takeover ? TakeoverClient.receive(config) : null;
            Proxy proxy;
            try {
                proxy = Proxy.start(config, Main::collectStartUpGarbage,
                        handover == null ? java.util.Map.of() : handover.sockets());
            } catch (RuntimeException e) {
                if (handover != null) {
                    handover.abort(String.valueOf(e.getMessage()));
                }
                throw e;
            }
            // after the warm-up: while it runs, the compilers should have the core to themselves
            String priority = lowerCompilers(config.backgroundNice());
            // Logged once bound, so that a start-up error is the only line a failed start prints.
            Log.info("nioproxy started (" + warmUp + "; " + priority + "): " + Settings.describe(config));
            CountDownLatch stopped = stopOnShutdown(proxy);
            logListeners(proxy);
            if (handover == null) {
                tellServiceManager("READY=1");
            } else {
                try {
                    handover.bound(proxy.listeners(), proxy);
                    // the unit's main process from now on; then the previous one may exit
                    tellServiceManager("MAINPID=" + ProcessHandle.current().pid() + "\nREADY=1");
                    handover.ready();
                } catch (java.io.IOException e) {
                    Log.warn("take-over: " + e.getMessage());
                }
                startAdminAfterTakeover(proxy);
            }
            Successor.serving(serveTakeovers(proxy));
            await(stopped);
            return 0;
        } catch (ConfigException e) {
            err.println("nioproxy: " + e.getMessage());
            return EXIT_CONFIG;
        }
    }

    /** Serves take-overs of this process (closed by the shutdown hook); null when none are served. */
    private static volatile TakeoverServer takeovers;

    /** The previous process lets go of the admin port as it hands over: bind it, retrying for a while. */
    static void startAdminAfterTakeover(Proxy proxy) {
        if (proxy.config().admin() == null) {
            return;
        }
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                proxy.startAdmin();
                return;
            } catch (ConfigException e) {
                if (System.nanoTime() - deadline > 0) {
                    Log.warn("take-over: the admin endpoint could not be started: " + e.getMessage());
                    return;
                }
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** {@code sd_notify}: says {@code state} to the service manager that asks for it (none: nothing said). */
    static void tellServiceManager(String state) {
        String said = Notifier.send(state);
        if (said != null) {
            Log.info(said);
        }
    }

    /**
     * With {@code proxy.takeover.socket}, lets a later process take over from this one; when it has, this one stops
     * as on SIGTERM (paced shutdown of its sessions). Where sockets cannot be passed, says so and goes on without.
     *
     * @return null when take-overs are served, else why not (what a reload by {@code SIGHUP} answers)
     */
    static String serveTakeovers(Proxy proxy) {
        String path = proxy.config().takeoverSocket();
        if (path == null) {
            return "proxy.takeover.socket is not set (a reload is a take-over through it)";
        }
        String why = Takeover.unavailable(proxy.config());
        if (why != null) {
            Log.warn("proxy.takeover.socket=" + path + " not served: " + why);
            return why;
        }
        try {
            takeovers = TakeoverServer.start(proxy.listeners(), proxy, proxy::stopAccepting, proxy::resumeAccepting,
                    java.nio.file.Path.of(path), () -> {
                        proxy.stopAdmin(); // the new process binds it next
                        System.exit(0);
                    });
            return null;
        } catch (java.io.IOException e) {
            Log.warn("proxy.takeover.socket=" + path + " not served: " + e.getMessage());
            return e.getMessage();
        }
    }

    /**
     * One full collection between start-up and the first client ({@link Proxy#start(ProxyConfig, Runnable)} runs it
     * before the listeners bind). The balancer's long-lived state — session tables, histograms, the strings, classes
     * and method handles of start-up: 8 MB live with the yardstick's three listeners — is allocated young, like the
     * warm-up's garbage; left there, the next young collections copy it again, survivor space to survivor space,
     * until it ages out, and each young pause is many times longer (docs/decisions/0003-start-up-warm-up.md). The
     * relay itself allocates nothing; only new connections do. {@code -XX:+DisableExplicitGC} turns this off with
     * every other {@code System.gc()}.
     */
    static void collectStartUpGarbage() {
        System.gc();
    }

    /**
     * Lowers the JIT compiler threads to {@code proxy.background.nice} (the control and health threads lower
     * themselves as they start). Not being able to is no reason to refuse to start: the start-up line says why.
     */
    static String lowerCompilers(int nice) {
        if (nice == 0) {
            return "background threads at default priority";
        }
        try {
            return Priority.lowerCompilerThreads(nice) + " JIT compiler threads and the control threads at nice " + nice;
        } catch (IllegalStateException e) {
            return "background threads at default priority: " + e.getMessage();
        }
    }

    /**
     * With {@code proxy.dns.refresh} on, the JVM's own DNS cache (30 s by default) must not hide answers that
     * changed: unless the operator set it, cache lookups for 1 s (the refresh itself paces the lookups).
     */
    static void followDns(ProxyConfig config) {
        boolean refresh = config.listeners().stream().anyMatch(l -> l.dnsRefreshNanos() > 0);
        if (refresh && System.getProperty("sun.net.inetaddr.ttl") == null
                && java.security.Security.getProperty("networkaddress.cache.ttl") == null) {
            java.security.Security.setProperty("networkaddress.cache.ttl", "1");
        }
    }

    /**
     * Installs the shutdown hook (SIGTERM, SIGINT) that closes {@code proxy}; the returned latch opens when it has.
     * Install it before telling anyone the balancer is up, so that a stop at any moment after that is clean.
     */
    public static CountDownLatch stopOnShutdown(Proxy proxy) {
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            TakeoverServer t = takeovers;
            if (t != null) {
                t.close(); // no take-over of a process that is stopping; the path goes with it
            }
            proxy.shutdownGracefully(proxy.config().shutdownTimeoutNanos(), proxy.config().shutdownPaceNanos());
            Log.info("nioproxy stopped");
            done.countDown();
            // SIGTERM is how operators and service managers stop a balancer: a clean stop exits 0, as HAProxy and
            // nginx do, instead of the JVM's 143. halt() here ends only what is already shut down.
            Runtime.getRuntime().halt(0);
        }, "nioproxy-shutdown"));
        return done;
    }

    public static void logListeners(Proxy proxy) {
        for (var l : proxy.listeners()) {
            var sni = l.config().sni();
            if (l.config().pool()) {
                Log.info("pool " + l.config().name() + ": " + l.backends().size() + " backends, balance "
                        + l.config().balance().configName());
            } else {
                Log.info("listener " + l.config().name() + " accepting on " + l.boundAddress() + ", "
                        + (sni == null ? l.backends().size() + " backends, balance " + l.config().balance().configName()
                        : "routing by TLS server name: " + sni.rules().patterns() + ", default "
                        + (sni.defaultPool() == null ? "its own backends" : "pool " + sni.defaultPool())));
            }
        }
    }

    /** {@code nioproxy VERSION (Java VERSION, I/O modes available)}. */
    static String version() {
        String v = "unknown";
        try (java.io.InputStream in = Main.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                java.util.Properties p = new java.util.Properties();
                p.load(in);
                v = p.getProperty("version", v);
            }
        } catch (java.io.IOException e) {
            // unknown
        }
        return "nioproxy " + v + " (Java " + Runtime.version() + "; I/O: nio"
                + (io.nioproxy.sys.Linux.AVAILABLE ? ", epoll" : "; epoll unavailable: "
                + io.nioproxy.sys.Linux.UNAVAILABLE_REASON) + ")";
    }

    /** Blocks the calling thread until {@code latch} opens. */
    public static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String usage() {
        StringBuilder sb = new StringBuilder();
        sb.append("usage: java [-Dproxy.KEY=VALUE ...] -jar nioproxy.jar [--demo | --check | --takeover | --version"
                + " | --help]")
                .append('\n');
        sb.append("  --demo     start three built-in HTTP backends on loopback and a balancer in front of them").append('\n');
        sb.append("  --check    validate the settings and exit: 0 when valid, 2 with the start-up error").append('\n');
        sb.append("  --takeover take over from the nioproxy serving proxy.takeover.socket: its listening sockets and")
                .append(" established sessions, so that no connection is refused or dropped; it then drains what stayed")
                .append(" and exits (epoll mode). SIGHUP to a running nioproxy starts one from its own command line")
                .append(" (a reload)").append('\n');
        sb.append("  --version  print the version, the Java runtime and the I/O modes available").append('\n');
        sb.append("settings (system properties, or a file given by -Dproxy.config=FILE):").append('\n');
        for (Settings.Key<?> k : Settings.KEYS) {
            sb.append(String.format("  %-24s %s%s%n", k.property(), k.meaning(),
                    k.defaultValue() == null ? "" : " [default " + k.defaultValue() + "]"));
        }
        sb.append("  proxy.listener.NAME.KEY  per-listener value of any listener key (listen, backends, balance, ...)")
                .append('\n');
        sb.append("  proxy.pool.NAME.KEY      per-pool value of a backend key (backends, balance, health.*, ...)");
        return sb.toString();
    }
}
