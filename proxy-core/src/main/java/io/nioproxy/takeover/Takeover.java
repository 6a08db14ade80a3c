package io.nioproxy.takeover;

import io.nioproxy.config.IoMode;
import io.nioproxy.config.ProxyConfig;
import io.nioproxy.sys.Linux;

/**
 * What both sides of a take-over agree on: the protocol's version, its deadlines, and whether this process can
 * take part at all.
 *
 * <p>The conversation, one sequenced packet each: the new process says {@code hello MIN MAX} (the versions it speaks);
 * the running one answers {@code ok V} with the highest version both speak, or {@code refused WHY}. The new one lists its listeners ({@code listeners
 * NAME=HOST:PORT ...}); the running one checks them all before anything moves — a listener whose address changed is
 * refused — then sends {@code listener NAME} with that listener's sockets attached, once per listener, and
 * {@code end}. The new process accepts on them and says {@code bound}; the running one stops accepting, sends what it
 * carries (drains, affinity, sessions, counters), gives up the path ({@code released}) and drains. From version 2 the
 * new process then says {@code ready} once it has told the service manager it is the unit's main process, and only
 * then may the old one exit: an old main process that exited first would be, to systemd, a service that stopped.
 * Anything else, or silence past the deadline, leaves the running process as it was.
 *
 * <p>Stateless; any thread.
 */
public final class Takeover {
    /** This build's protocol version; a newer build keeps speaking older versions it knows. */
    public static final int VERSION = 2;
    /** The oldest version this build can take over from. */
    public static final int MIN_VERSION = 1;
    /** How long either side waits for the other's next message. */
    static final long TIMEOUT_MILLIS = 30_000;

    private Takeover() {
    }

    /**
     * The version two processes speak: the highest both know, or -1 when they share none. This build speaks
     * {@link #MIN_VERSION} to {@link #VERSION}; the other {@code min} to {@code max}.
     */
    static int agree(int min, int max) {
        int v = Math.min(VERSION, max);
        return v >= Math.max(MIN_VERSION, min) ? v : -1;
    }

    /**
     * Version 2 brought: the new process says {@code ready} (it told the service manager it is the main process)
     * before the old one may exit; the counters carry the ended sessions' bytes, each backend's counters and the two
     * latency histograms.
     */
    static final int VERSION_2 = 2;

    /** Null when this process can pass sockets; otherwise why not, naming the fallback. */
    public static String unavailable(ProxyConfig config) {
        if (config.io() != IoMode.EPOLL || !Linux.AVAILABLE) {
            return "a take-over passes sockets between processes (SCM_RIGHTS), which needs proxy.io=epoll (Linux, JDK"
                    + " 22+); this process runs " + config.io().name().toLowerCase(java.util.Locale.ROOT) + " on JDK "
                    + Runtime.version().feature() + ": restart with the paced shutdown instead (SIGTERM, then start the"
                    + " new process)";
        }
        return null;
    }
}
