package io.nioproxy.systemd;

import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Tells the service manager what this process is doing, as {@code sd_notify(3)} does: one datagram of
 * {@code VAR=VALUE} lines to the Unix-domain socket systemd names in {@code $NOTIFY_SOCKET} for a {@code Type=notify}
 * unit. {@code READY=1} once the listeners accept; after a take-over the new process sends {@code MAINPID=} with its
 * own PID, so that the unit's main process is the one serving when the old one exits (which needs
 * {@code NotifyAccess=all}: the new process is not the one systemd started).
 *
 * <p>A datagram socket of the Unix domain is out of the JDK's reach (its channels do streams only), so this uses
 * the raw Linux calls: JDK 22+. Where they are missing and a manager asks, {@link #send} says so, and the unit must
 * not wait for a notification ({@code Type=simple}).
 *
 * <p>Stateless; any thread (each call opens and closes its own socket).
 */
public final class Notifier {
    /** The environment variable systemd sets for a {@code Type=notify} service. */
    public static final String SOCKET_ENV = "NOTIFY_SOCKET";

    private Notifier() {
    }

    /**
     * Sends {@code state} to the socket in {@code $NOTIFY_SOCKET}.
     *
     * @return null when no service manager asks (the variable is unset), else what happened, for the log
     */
    public static String send(String state) {
        return send(System.getenv(SOCKET_ENV), state);
    }

    /** {@link #send(String)} to {@code socket} (a path, or {@code @name} in the abstract namespace; null: none). */
    public static String send(String socket, String state) {
        if (socket == null || socket.isEmpty()) {
            return null;
        }
        String what = state.replace('\n', ' ');
        if (!Linux.AVAILABLE) {
            return "cannot tell the service manager " + what + " at " + socket + ": " + Linux.UNAVAILABLE_REASON
                    + " (a Type=notify unit needs JDK 22+; use Type=simple here)";
        }
        Linux.Calls sys = Linux.calls();
        int fd = sys.socket(Linux.AF_UNIX, Linux.SOCK_DGRAM | Linux.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return "cannot tell the service manager " + what + ": socket: " + Linux.strerror(sys.errno());
        }
        try {
            ByteBuffer addr = SockAddr.unix(socket);
            byte[] b = state.getBytes(StandardCharsets.UTF_8);
            ByteBuffer data = ByteBuffer.allocateDirect(b.length).put(b).flip();
            // a datagram socket's connect only names the peer; nothing blocks
            if (sys.connectBlocking(fd, Linux.address(addr), addr.limit()) < 0
                    || sys.sendFds(fd, data, NO_FDS) != b.length) {
                return "cannot tell the service manager " + what + " at " + socket + ": "
                        + Linux.strerror(sys.errno());
            }
            return "told the service manager " + what;
        } catch (IOException e) {
            return "cannot tell the service manager " + what + ": " + e.getMessage();
        } finally {
            sys.close(fd);
        }
    }

    private static final int[] NO_FDS = new int[0];
}
