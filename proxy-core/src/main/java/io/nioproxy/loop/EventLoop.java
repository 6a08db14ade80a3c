package io.nioproxy.loop;

import io.nioproxy.buffer.BufferPool;
import io.nioproxy.log.Log;
import io.nioproxy.log.LogLimiter;
import io.nioproxy.transport.Dispatcher;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.Poller;
import io.nioproxy.transport.Transport;
import org.jctools.queues.atomic.MpscUnboundedAtomicArrayQueue;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One thread, one readiness source, one {@link BufferPool}, and one MPSC queue through which other threads hand it
 * work. Every socket of a session is registered here for the session's whole life, so the relay never crosses
 * threads and never takes a lock.
 *
 * <p>The readiness source is a {@link Poller} of the process's {@link Transport} (java.nio selectors, or epoll
 * through the FFM API); the loop is the same for every kind: tasks, poll (handlers run inside it, through
 * {@link #dispatch}), timers, services, end of turn. It knows nothing of sockets.
 *
 * <h2>Assumptions and guarantees</h2>
 * <ul>
 *   <li>{@link #execute} may be called from any thread. Tasks run on the loop thread in the order each producer
 *   offered them. After {@link #close} they are discarded ({@link LoopTask#discard}).</li>
 *   <li>Wake-ups are coalesced: a producer wakes the loop ({@link Poller#wakeup}) only when the loop has announced
 *   it is about to block and no other producer has woken it since (a CAS on {@code sleeping}), as Netty's
 *   {@code NioEventLoop} does with its {@code nextWakeupNanos}.</li>
 *   <li>Everything else — the poller, timers, the buffer pool — is for the loop thread only.</li>
 *   <li>A failure inside one handler closes that handler's session ({@link IoHandler#onFailure}); a failure of a
 *   whole turn is logged (rate-limited) and the loop sleeps 10 ms instead of spinning.</li>
 * </ul>
 */
public final class EventLoop implements Dispatcher, Runnable {
    private static final long MAX_SELECT_MILLIS = 1000;
    private static final VarHandle SLEEPING;
    private static final VarHandle BUSY;

    static {
        try {
            SLEEPING = MethodHandles.lookup().findVarHandle(EventLoop.class, "sleeping", int.class);
            BUSY = MethodHandles.lookup().findVarHandle(EventLoop.class, "busyNanos", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int index;
    private final String name;
    private final BufferPool pool;
    /** Larger buffers for directions that keep filling regular ones; null when {@code proxy.buffer.bulk.size=0}. */
    private final BufferPool bulkPool;
    /**
     * JCTools' atomic (field-updater) variant: the same MPSC algorithm without {@code sun.misc.Unsafe}, which JDK 24+
     * warns about at start (JEP 471/498). The queue carries hand-offs and commands, not bytes: the difference in
     * cost does not show.
     */
    private final MpscUnboundedAtomicArrayQueue<LoopTask> inbox = new MpscUnboundedAtomicArrayQueue<>(1024);
    private final TimerWheel timers = new TimerWheel(System.nanoTime());
    private final ArrayList<LoopService> services = new ArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final LogLimiter failureLog = new LogLimiter(TimeUnit.SECONDS.toNanos(1));
    private final Thread thread;
    private final Poller poller;
    /** 1 while the loop is (about to be) blocked in its poll; producers CAS it to 0 and wake the poller. */
    @SuppressWarnings("unused") // accessed through SLEEPING
    private volatile int sleeping;
    private volatile boolean running = true;
    private long now = System.nanoTime();
    /** Whether {@link #now} was taken in this poll: handlers run inside it, before it returns. */
    private boolean nowFresh;
    /** Turns that failed as a whole (each costs a 10 ms pause, see {@link #run}); loop thread writes, others may lag. */
    private long turnFailures;
    /** Time spent outside select (handling events, tasks, timers): utilisation = busy / wall. Release-published. */
    @SuppressWarnings("unused") // through BUSY
    private long busyNanos;
    private long busyNanosPlain;
    /**
     * Non-blocking polls after a poll that found events, before the loop may block ({@code proxy.loop.spin}; Agrona's
     * spin-then-park idle strategy, HAProxy's {@code busy-polling} in small). A loop that sleeps between events is
     * woken for the next one by the thread that sends it — on another core, an inter-processor interrupt paid by
     * that core (docs/decisions/0004-loop-spin.md).
     */
    private final int spinPolls;
    private int spinLeft;

    /**
     * @param transport how this loop drives sockets: its poller is made here
     * @param spinPolls non-blocking polls after a busy one before the loop may sleep ({@code proxy.loop.spin})
     */
    public EventLoop(int index, BufferPool pool, BufferPool bulkPool, Transport transport, int spinPolls)
            throws IOException {
        this.index = index;
        this.spinPolls = spinPolls;
        this.name = "nioproxy-loop-" + index;
        this.pool = pool;
        this.bulkPool = bulkPool;
        this.poller = transport.newPoller();
        this.thread = new Thread(this, name);
    }

    /** Loop thread: this loop's readiness source, to register sockets with and open backend sockets from. */
    public Poller poller() {
        return poller;
    }

    public void start() {
        thread.start();
    }

    public int index() {
        return index;
    }

    public BufferPool pool() {
        return pool;
    }

    /** The bulk buffers (see {@code proxy.buffer.bulk.size}); null when off. */
    public BufferPool bulkPool() {
        return bulkPool;
    }

    /** The time cached after the current turn's select (loop thread). Cheaper than a nanoTime per event. */
    public long now() {
        return now;
    }

    /** The loop thread's id (for per-thread accounting such as allocated bytes). */
    public long threadId() {
        return thread.getId();
    }

    public boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    /** Loop thread (or before {@link #start}): add a per-turn service. */
    public void addService(LoopService service) {
        services.add(service);
    }

    /** Loop thread: call {@code timer} at {@code deadlineNanos} (moving it if it was scheduled already). */
    public void schedule(LoopTimer timer, long deadlineNanos) {
        timers.schedule(timer, deadlineNanos);
    }

    /** Loop thread: {@code timer} is no longer wanted. */
    public void cancel(LoopTimer timer) {
        timers.cancel(timer);
    }

    /**
     * Any thread: run {@code task} on the loop.
     *
     * @return false when the loop has stopped (the task was not taken)
     */
    public boolean execute(LoopTask task) {
        if (!running) {
            return false;
        }
        inbox.offer(task);
        if ((int) SLEEPING.getVolatile(this) == 1 && SLEEPING.compareAndSet(this, 1, 0)) {
            wakeup();
        }
        return true;
    }

    /** Any thread: nanoseconds this loop spent working (outside select) since it started. */
    public long busyNanos() {
        return (long) BUSY.getAcquire(this);
    }

    /** Any thread: make the loop run a turn now (e.g. so that a channel closed elsewhere is released at once). */
    public void wakeup() {
        poller.wakeup();
    }

    /** Any thread: times the poller was rebuilt because it kept returning early with nothing to do (java.nio only). */
    public long selectorRebuilds() {
        return poller.rebuilds();
    }

    /** Any thread: turns that failed outside any handler (a bug, logged at ERROR; the loop pauses 10 ms and goes on). */
    public long turnFailures() {
        return turnFailures;
    }

    @Override
    public void run() {
        try {
            while (running) {
                try {
                    turn();
                } catch (Throwable t) {
                    turnFailures++;
                    if (failureLog.allow(System.nanoTime())) {
                        Log.error(name + ": loop turn failed (" + failureLog.suppressed() + " more suppressed)", t);
                    }
                    sleepQuietly();
                }
            }
        } finally {
            shutdownNow();
            stopped.countDown();
        }
    }

    private void turn() throws IOException {
        runTasks();
        long timeoutMillis = selectTimeoutMillis();
        long before = System.nanoTime();
        busyNanosPlain += before - now; // from the end of the previous poll to here: the turn's work
        BUSY.setRelease(this, busyNanosPlain);
        nowFresh = false;
        boolean noWait;
        if (spinLeft > 0) {
            // recently busy: poll without blocking (and without asking producers for a wake-up), see spinPolls
            spinLeft--;
            noWait = true;
        } else {
            SLEEPING.setVolatile(this, 1);
            // A task that arrived after runTasks(): its producer may have seen sleeping == 0 and skipped the wake-up.
            noWait = !inbox.isEmpty() || !running || poller.hasWork();
            if (noWait) {
                SLEEPING.setOpaque(this, 0);
            }
        }
        int events = poller.poll(noWait ? 0 : timeoutMillis, this);
        SLEEPING.setOpaque(this, 0);
        if (events > 0) {
            spinLeft = spinPolls;
        }
        if (!nowFresh) {
            now = System.nanoTime();
        }
        runTimers();
        for (int i = 0, n = services.size(); i < n; i++) {
            services.get(i).afterSelect(now);
        }
        poller.endTurn();
    }

    /** Runs one ready handler. False when even its failure handling failed (the poller drops its registration). */
    @Override
    public boolean dispatch(IoHandler handler, int readyOps) {
        if (!nowFresh) {
            // The first ready socket of this poll: take the time once, so that every handler of the turn sees when
            // the select woke up (not when the previous one did, which may be a second ago).
            now = System.nanoTime();
            nowFresh = true;
            // Awake from here on: a task handed over while the handlers run (an accepted socket in acceptor mode)
            // is run at the next turn's start without a wake-up, which would cost the producer a write and this
            // loop an extra poll and read.
            SLEEPING.setOpaque(this, 0);
        }
        try {
            handler.onReady(readyOps);
        } catch (Throwable t) {
            if (failureLog.allow(now)) {
                Log.error(name + ": handler failed, closing it (" + failureLog.suppressed() + " more suppressed)", t);
            }
            try {
                handler.onFailure(t);
            } catch (Throwable again) {
                return false;
            }
        }
        return true;
    }

    private void runTasks() {
        LoopTask task;
        int budget = 4096; // bounded so that a flood of hand-offs cannot starve the sockets already here
        while (budget-- > 0 && (task = inbox.relaxedPoll()) != null) {
            try {
                task.runOn(this);
            } catch (Throwable t) {
                Log.error(name + ": task failed", t);
            }
        }
    }

    private long selectTimeoutMillis() {
        if (!inbox.isEmpty()) {
            return 0;
        }
        long deadline = timers.nextDeadlineNanos();
        for (int i = 0, n = services.size(); i < n; i++) {
            deadline = Math.min(deadline, services.get(i).nextDeadlineNanos());
        }
        if (deadline == Long.MAX_VALUE) {
            return MAX_SELECT_MILLIS;
        }
        long waitNanos = deadline - System.nanoTime();
        if (waitNanos <= 0) {
            return 0;
        }
        // Round up: waking a little late is harmless, waking early costs an empty turn.
        return Math.min(MAX_SELECT_MILLIS, (waitNanos + 999_999) / 1_000_000);
    }

    private void runTimers() {
        timers.poll(now);
    }

    /** Any thread: stop the loop, close every socket and session it holds, and wait for it to finish. */
    public void close() {
        running = false;
        wakeup();
        if (Thread.currentThread() != thread) {
            try {
                if (!stopped.await(10, TimeUnit.SECONDS)) {
                    Log.warn(name + ": did not stop within 10 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void shutdownNow() {
        for (LoopService s : services) {
            try {
                s.shutdown();
            } catch (Throwable t) {
                Log.error(name + ": shutdown of a service failed", t);
            }
        }
        LoopTask task;
        while ((task = inbox.poll()) != null) {
            task.discard();
        }
        poller.close(); // listening sockets (sessions were closed by their table's shutdown)
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return name;
    }

}
