package io.nioproxy.loop;

import io.nioproxy.buffer.BufferPool;
import io.nioproxy.log.Log;
import io.nioproxy.log.LogLimiter;
import io.nioproxy.sys.Linux;
import org.jctools.queues.atomic.MpscUnboundedAtomicArrayQueue;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One thread, one readiness source, one {@link BufferPool}, and one MPSC queue through which other threads hand it
 * work. Every socket of a session is registered here for the session's whole life, so the relay never crosses
 * threads and never takes a lock.
 *
 * <p>The readiness source is a {@link Selector} (java.nio mode: channels, {@link #register}) or an
 * {@link EpollPoller} (epoll mode, {@code proxy.io=epoll}: descriptors, {@link #registerFd}); handlers are called the
 * same way in both, with ready operations in {@link SelectionKey} bits. A loop is one or the other for its life.
 *
 * <h2>Assumptions and guarantees</h2>
 * <ul>
 *   <li>{@link #execute} may be called from any thread. Tasks run on the loop thread in the order each producer
 *   offered them. After {@link #close} they are discarded ({@link LoopTask#discard}).</li>
 *   <li>Wake-ups are coalesced: a producer wakes the loop ({@link Selector#wakeup()}, or an eventfd write in epoll
 *   mode) only when the loop has announced it is
 *   about to block and no other producer has woken it since (a CAS on {@code sleeping}), as Netty's
 *   {@code NioEventLoop} does with its {@code nextWakeupNanos}.</li>
 *   <li>Everything else — registering channels, timers, the buffer pool — is for the loop thread only.</li>
 *   <li>Ready keys are consumed with {@link Selector#select(Consumer, long)} (JDK 11+): the loop itself is the
 *   consumer, so no selected-key set is filled, iterated or cleared, and nothing is allocated per event.</li>
 *   <li>A failure inside one handler closes that handler's session ({@link IoHandler#onFailure}); a failure of a
 *   whole turn is logged (rate-limited) and the loop sleeps 10 ms instead of spinning.</li>
 * </ul>
 */
public final class EventLoop implements Consumer<SelectionKey>, Runnable {
    /** Selects in a row that return early with nothing to do before the selector is rebuilt (JDK-6670302 class). */
    static final int SPIN_REBUILD_THRESHOLD = 512;
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
    private final ArrayList<LoopTimer> timers = new ArrayList<>();
    private final ArrayList<LoopService> services = new ArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final LogLimiter failureLog = new LogLimiter(TimeUnit.SECONDS.toNanos(1));
    private final SpinDetector spinDetector = new SpinDetector(SPIN_REBUILD_THRESHOLD);
    private final Thread thread;
    /** java.nio mode: the selector; null in epoll mode. */
    private Selector selector;
    /** epoll mode ({@code proxy.io=epoll}): the poller and this thread's system calls; null in java.nio mode. */
    private final EpollPoller epoll;
    private final Linux.Calls sys;
    private final java.nio.ByteBuffer scratchAddress = java.nio.ByteBuffer.allocateDirect(32);
    /** 1 while the loop is (about to be) blocked in select; producers CAS it to 0 and wake the selector. */
    @SuppressWarnings("unused") // accessed through SLEEPING
    private volatile int sleeping;
    private volatile boolean running = true;
    private long now = System.nanoTime();
    /** Whether {@link #now} was taken in this select: handlers run inside select(Consumer), before it returns. */
    private boolean nowFresh;
    private long selectorRebuilds;
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
     * that core (measured on this VM: 4–8 µs per wake-up of the WebSocket peers' core, and a longer round trip).
     */
    private final int spinPolls;
    private int spinLeft;

    public EventLoop(int index, BufferPool pool) throws IOException {
        this(index, pool, null, false, 0);
    }

    /**
     * @param epoll drive sockets with direct epoll calls ({@link Linux}; JDK 22+ on Linux) instead of a
     *              {@link Selector}: sessions and listeners on this loop then use descriptors, not channels
     * @param spinPolls non-blocking polls after a busy one before the loop may sleep ({@code proxy.loop.spin})
     */
    public EventLoop(int index, BufferPool pool, BufferPool bulkPool, boolean epoll, int spinPolls)
            throws IOException {
        this.index = index;
        this.spinPolls = spinPolls;
        this.name = "nioproxy-loop-" + index;
        this.pool = pool;
        this.bulkPool = bulkPool;
        if (epoll) {
            this.sys = Linux.calls();
            this.epoll = new EpollPoller(sys);
        } else {
            this.sys = null;
            this.epoll = null;
            this.selector = Selector.open();
        }
        this.thread = new Thread(this, name);
    }

    /** Whether this loop runs in epoll mode (descriptors) rather than java.nio mode (channels). */
    public boolean epollMode() {
        return epoll != null;
    }

    /** Epoll mode, loop thread: the system calls (their errno cell belongs to this thread). */
    public Linux.Calls sys() {
        return sys;
    }

    /** Epoll mode, loop thread: a sockaddr-sized direct buffer for one call at a time. */
    public java.nio.ByteBuffer scratchAddress() {
        return scratchAddress;
    }

    /**
     * Epoll mode, loop thread: watch {@code fd} for {@code handler}, with no interest yet.
     *
     * @param edgeTriggered a session socket (see {@link EpollPoller}); false for a listening socket
     */
    public void registerFd(int fd, IoHandler handler, boolean edgeTriggered) {
        epoll.register(fd, handler, edgeTriggered);
    }

    /** Epoll mode, loop thread: whether the peer's FIN has been seen on {@code fd} (an edge-triggered socket). */
    public boolean peerShutFd(int fd) {
        return epoll.peerShut(fd);
    }

    /** Epoll mode: the peer's FIN, and no error, has been seen on {@code fd} (see {@code EpollPoller.peerFinClean}). */
    public boolean peerFinCleanFd(int fd) {
        return epoll.peerFinClean(fd);
    }

    /** Epoll mode, loop thread: {@code fd} was left with bytes unread; dispatch it for reading again next turn. */
    public void readAgainFd(int fd) {
        epoll.readAgain(fd);
    }

    /** Epoll mode, loop thread: the interest of a registered descriptor, in {@link SelectionKey} bits. */
    public void interestFd(int fd, int ops) throws IOException {
        epoll.interest(fd, ops);
    }

    /**
     * Epoll mode, loop thread: whether the ready event being handled reported an error or hang-up (true outside
     * event handling, when nothing is known).
     */
    public boolean eventBroken() {
        return epoll.eventBroken();
    }

    /** Epoll mode, loop thread: forget {@code fd} now and close it once the current batch of events is handled. */
    public void closeFd(int fd) {
        epoll.close(fd);
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

    /** Loop thread: register a channel on this loop's selector. */
    public SelectionKey register(SelectableChannel channel, int ops, IoHandler handler) throws IOException {
        if (selector == null) {
            throw new IllegalStateException(name + " runs in epoll mode: it takes descriptors, not channels");
        }
        return channel.register(selector, ops, handler);
    }

    /** Loop thread (or before {@link #start}): add a per-turn service. */
    public void addService(LoopService service) {
        services.add(service);
    }

    /** Loop thread: call {@code timer} at its deadline (scanned after each select; keep these few). */
    public void addTimer(LoopTimer timer) {
        timers.add(timer);
    }

    public void removeTimer(LoopTimer timer) {
        timers.remove(timer);
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
        if (epoll != null) {
            epoll.wakeup();
        } else {
            selector.wakeup();
        }
    }

    /** Any thread: times the selector was rebuilt (never in epoll mode) because it kept returning early with nothing to do. */
    public long selectorRebuilds() {
        return selectorRebuilds;
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
                } catch (ClosedSelectorException e) {
                    break;
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
        int selected;
        long before = System.nanoTime();
        busyNanosPlain += before - now; // from the end of the previous select to here: the turn's work
        BUSY.setRelease(this, busyNanosPlain);
        nowFresh = false;
        boolean spin = spinLeft > 0;
        if (spin) {
            // recently busy: poll without blocking (and without asking producers for a wake-up), see spinPolls
            spinLeft--;
            timeoutMillis = 0;
        } else {
            SLEEPING.setVolatile(this, 1);
        }
        if (epoll != null) {
            if (epollTurn(timeoutMillis) > 0) {
                spinLeft = spinPolls;
            }
            return;
        }
        if (spin || !inbox.isEmpty() || !running) {
            // A task arrived after runTasks(): do not block; the producer may have seen sleeping == 0 and skipped
            // the wake-up.
            SLEEPING.setOpaque(this, 0);
            selected = selector.selectNow(this);
        } else {
            selected = timeoutMillis == 0 ? selector.selectNow(this) : selector.select(this, timeoutMillis);
            SLEEPING.setOpaque(this, 0);
        }
        if (selected > 0) {
            spinLeft = spinPolls;
        }
        if (!nowFresh) {
            now = System.nanoTime();
        }
        if (selected == 0 && inbox.isEmpty() && timeoutMillis > 1
                && spinDetector.prematureReturn(now - before, TimeUnit.MILLISECONDS.toNanos(timeoutMillis))) {
            rebuildSelector();
        } else if (selected > 0) {
            spinDetector.reset();
        }
        runTimers();
        for (int i = 0, n = services.size(); i < n; i++) {
            services.get(i).afterSelect(now);
        }
    }

    /** The epoll-mode half of {@link #turn}: the same steps, with deferred closes flushed once no batch runs. */
    private int epollTurn(long timeoutMillis) {
        epoll.closeDeferred(); // closes made by the tasks run before this turn
        boolean noWait = !inbox.isEmpty() || !running || epoll.hasQueued();
        if (noWait) {
            SLEEPING.setOpaque(this, 0);
        }
        int events = epoll.poll(noWait ? 0 : timeoutMillis, this);
        SLEEPING.setOpaque(this, 0);
        epoll.closeDeferred();
        if (!nowFresh) {
            now = System.nanoTime();
        }
        runTimers();
        for (int i = 0, n = services.size(); i < n; i++) {
            services.get(i).afterSelect(now);
        }
        epoll.closeDeferred();
        return events;
    }

    /** The per-key callback of {@link Selector#select(Consumer, long)}. */
    @Override
    public void accept(SelectionKey key) {
        if (!key.isValid()) {
            // Cancelled by a handler earlier in this batch: its session ended (a client that reset while its reply was
            // being relayed closes both sockets while the other's event waits here). readyOps() would throw and fail
            // the whole turn, the rest of the batch with it (Netty checks isValid() for the same reason).
            return;
        }
        IoHandler handler = (IoHandler) key.attachment();
        if (!dispatch(handler, key.readyOps())) {
            key.cancel();
        }
    }

    /** Runs one ready handler, both modes. False when even its failure handling failed (drop its registration). */
    boolean dispatch(IoHandler handler, int readyOps) {
        if (!nowFresh) {
            // The first ready key of this select: take the time once, so that every handler of the turn sees when
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
        long deadline = Long.MAX_VALUE;
        for (int i = 0, n = timers.size(); i < n; i++) {
            deadline = Math.min(deadline, timers.get(i).deadlineNanos());
        }
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
        if (timers.isEmpty()) {
            return;
        }
        for (int i = timers.size() - 1; i >= 0; i--) {
            if (i >= timers.size()) {
                continue;
            }
            LoopTimer t = timers.get(i);
            if (t.deadlineNanos() - now <= 0) {
                timers.remove(i);
                t.onDeadline(now);
            }
        }
    }

    /**
     * Moves every key to a new selector with the same interest and attachment, then closes the old one. The
     * work-around Netty applies for the epoll bug where {@code select} returns at once with no key ready, forever
     * (JDK-6670302, JDK-6403933).
     */
    void rebuildSelector() throws IOException {
        Selector fresh = Selector.open();
        for (SelectionKey key : selector.keys()) {
            if (!key.isValid()) {
                continue;
            }
            int ops = key.interestOps();
            Object att = key.attachment();
            key.cancel();
            try {
                SelectionKey moved = key.channel().register(fresh, ops, att);
                if (att instanceof KeyOwner owner) {
                    owner.keyMoved(key, moved);
                }
            } catch (IOException | RuntimeException e) {
                Log.warn(name + ": could not move a channel to the new selector, closing it: " + e);
                key.channel().close();
            }
        }
        Selector old = selector;
        selector = fresh;
        old.close();
        selectorRebuilds++;
        spinDetector.reset();
        Log.warn(name + ": select() returned early " + SPIN_REBUILD_THRESHOLD
                + " times in a row with nothing ready; selector rebuilt");
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
        if (epoll != null) {
            epoll.forEachRegistered(epoll::close); // listeners (sessions were closed by their table's shutdown)
            epoll.close();
            return;
        }
        for (SelectionKey key : selector.keys()) {
            try {
                key.channel().close();
            } catch (IOException e) {
                // closing anyway
            }
        }
        try {
            selector.close();
        } catch (IOException e) {
            // closing anyway
        }
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

    /** A handler that keeps a reference to its own key and must learn of the new one after a selector rebuild. */
    public interface KeyOwner {
        void keyMoved(SelectionKey oldKey, SelectionKey newKey);
    }
}
