package io.nioproxy.sys;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Lowers the scheduling priority (raises the nice value) of threads that share the loops' cores but must never hold
 * a loop up: the balancer's control and health-check threads, and the JVM's JIT compiler threads.
 *
 * <p>Why: a loop that finds a runnable thread of equal priority beside it on its core loses the core to it. A C2
 * compilation or a timer tick beside a busy loop takes the core for a scheduler slice, and every request in flight
 * waits (docs/decisions/0005-background-priority.md). At nice 10 such a thread weighs a
 * tenth of a loop: it still runs whenever the loop sleeps, and gets a tenth of the core when both want it all.
 * HAProxy and nginx run one thread per core and have nothing to lower.
 *
 * <p>Linux keeps a nice value per thread (setpriority with {@code PRIO_PROCESS} and a thread id), and any process
 * may raise its threads' nice values without privileges. The call comes from the foreign-function API
 * ({@link Linux#AVAILABLE}: JDK 22+); elsewhere every method reports that it did nothing.
 *
 * <p>Threading: any thread. {@link #lowerCurrentThread} affects the calling thread only;
 * {@link #lowerCompilerThreads} reads {@code /proc/self/task}. Start-up and thread-start paths only.
 */
public final class Priority {
    /** The JVM's compiler threads, as Linux names them (the first 15 characters of "C1 CompilerThread0"). */
    private static final String COMPILER_THREAD = "CompilerThre";

    private Priority() {
    }

    /** Why the nice values cannot be set here, or null when they can. */
    public static String unavailableReason() {
        return Linux.AVAILABLE ? null : "needs the foreign-function API on Linux (JDK 22+): " + Linux.UNAVAILABLE_REASON;
    }

    /**
     * Sets the calling thread's nice value.
     *
     * @return null when set (or {@code nice} is 0: nothing to do), else why not
     */
    public static String lowerCurrentThread(int nice) {
        if (nice == 0) {
            return null;
        }
        String reason = unavailableReason();
        if (reason != null) {
            return reason;
        }
        Linux.Calls calls = Linux.calls();
        return calls.setpriority(Linux.PRIO_PROCESS, 0, nice) == 0 ? null : Linux.strerror(calls.errno());
    }

    /**
     * Sets the nice value of every JIT compiler thread of this JVM. Threads HotSpot adds later are started by a
     * compiler thread and inherit its nice value.
     *
     * @return how many threads were changed
     * @throws IllegalStateException naming why none could be (no FFM API, no /proc, a refused call)
     */
    public static int lowerCompilerThreads(int nice) {
        String reason = unavailableReason();
        if (reason != null) {
            throw new IllegalStateException(reason);
        }
        Linux.Calls calls = Linux.calls();
        int changed = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                String name;
                try {
                    name = Files.readString(task.resolve("comm")).trim();
                } catch (IOException gone) {
                    continue; // the thread ended while we listed them
                }
                if (!name.contains(COMPILER_THREAD)) {
                    continue;
                }
                int tid = Integer.parseInt(task.getFileName().toString());
                if (calls.setpriority(Linux.PRIO_PROCESS, tid, nice) != 0) {
                    throw new IllegalStateException("setpriority(" + name + ", " + nice + "): "
                            + Linux.strerror(calls.errno()));
                }
                changed++;
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc/self/task: " + e);
        }
        return changed;
    }
}
