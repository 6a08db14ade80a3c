package io.nioproxy.takeover;

import io.nioproxy.log.Log;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A reload: on {@code SIGHUP} (systemd's {@code ExecReload=/bin/kill -HUP $MAINPID}, or {@code kill -HUP} by hand),
 * this process starts its successor — the same command line (the JVM, its options, the jar) with {@code --takeover} —
 * which reads the configuration files and the jar afresh and takes over through {@code proxy.takeover.socket}.
 * As {@code nginx -s reload} and HAProxy's master, the signal returns at once; the successor's output goes where this
 * process's goes (the journal), and a successor that fails leaves this process serving, logged here too.
 *
 * <p>Changed JVM options or system properties on the unit's command line take a restart: the successor inherits this
 * process's own. Settings belong in the file named by {@code -Dproxy.config}.
 *
 * <p>The handler is installed first thing at start-up ({@link #onHangUp}), before anything could send the signal:
 * the JVM's own answer to {@code SIGHUP} is to exit, which a reload arriving while a successor still starts must not
 * trigger. Until {@link #serving} says otherwise, a {@code SIGHUP} is logged and ignored.
 *
 * <p>Threading: the JVM's signal thread starts successors; one at a time.
 */
public final class Successor {
    private static Process running;
    private static volatile String refusal = "this process is still starting";

    private Successor() {
    }

    /** Installs the {@code SIGHUP} handler: from now on the signal never stops the JVM. */
    public static void onHangUp() {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), signal -> {
                String why = refusal;
                if (why != null) {
                    Log.warn("SIGHUP: no reload: " + why + "; this process goes on serving");
                } else {
                    start();
                }
            });
        } catch (IllegalArgumentException e) {
            // -Xrs, or a JVM that keeps the signal for itself: SIGHUP then does what the JVM does with it
            Log.warn("SIGHUP cannot be handled here (" + e.getMessage() + "): a reload is a take-over started by"
                    + " hand (--takeover)");
        }
    }

    /**
     * This process is up: {@code why} is null when it serves take-overs (a {@code SIGHUP} starts a successor), else
     * why a reload cannot be made here (logged on each {@code SIGHUP}).
     */
    public static void serving(String why) {
        refusal = why;
    }

    /** Starts the successor unless one is still at work. */
    static synchronized void start() {
        if (running != null && running.isAlive()) {
            Log.warn("SIGHUP: a take-over by process " + running.pid() + " is in progress; this one is ignored");
            return;
        }
        List<String> line;
        try {
            line = commandLine();
        } catch (IllegalStateException e) {
            Log.warn("SIGHUP: no reload: " + e.getMessage() + "; this process goes on serving");
            return;
        }
        try {
            Process p = new ProcessBuilder(line).inheritIO().start();
            running = p;
            Log.info("SIGHUP: reload: process " + p.pid() + " takes over from this one (" + String.join(" ", line)
                    + ")");
            // a successor that took over outlives this process: an exit seen here is one that failed
            p.onExit().thenAccept(done -> Log.warn("reload: process " + done.pid() + " exited with status "
                    + done.exitValue() + " without taking over; this process goes on serving"));
        } catch (IOException e) {
            Log.warn("SIGHUP: no reload: cannot start " + line.get(0) + ": " + e.getMessage()
                    + "; this process goes on serving");
        }
    }

    /** This process's command line, with {@code --takeover} once (a successor's own successor has it already). */
    static List<String> commandLine() {
        ProcessHandle.Info info = ProcessHandle.current().info();
        String command = info.command().orElseThrow(() -> new IllegalStateException("this process's command is unknown"));
        String[] args = info.arguments().orElseThrow(() -> new IllegalStateException("this process's arguments are"
                + " unknown"));
        List<String> line = new ArrayList<>();
        line.add(command);
        line.addAll(Arrays.asList(args));
        if (!line.contains("--takeover")) {
            line.add("--takeover");
        }
        return line;
    }
}
