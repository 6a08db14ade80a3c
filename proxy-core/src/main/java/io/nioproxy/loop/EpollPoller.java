package io.nioproxy.loop;

import io.nioproxy.sys.Linux;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.util.Arrays;

/**
 * The readiness source of an {@link EventLoop} in {@code proxy.io=epoll} mode: one epoll instance driven through
 * {@link Linux} calls, with sockets named by their descriptor number instead of a SelectionKey. What it saves over
 * java.nio's selector, per socket: the key object, the selector's key set and fd→key map entries, and the
 * EPOLL_CTL_DEL before close (closing a descriptor removes it from epoll).
 *
 * <p>Interest is given in {@link SelectionKey} bits so that handlers are the same in both modes, and ready events
 * are translated back the way the JDK's {@code SocketChannelImpl.translateReadyOps} does: an error or hang-up makes
 * every interested operation ready, so that the handler's next call finds the error. Level-triggered, as the JDK's
 * selector, so the relay logic is the same; a socket with no interest that still reports an error or hang-up is
 * taken out of epoll (EPOLL_CTL_DEL) until it is given interest again — otherwise level-triggered epoll would
 * return it on every turn.
 *
 * <p>Descriptor reuse: a socket closed while events of the same batch are still to be dispatched could have its
 * number reused by an accept in that batch and receive the old socket's events. So {@link #close} forgets the
 * handler at once and defers the close(2) itself to {@link #closeDeferred}, which the loop runs after the batch.
 *
 * <p>Threading: everything on the loop thread, except {@link #wakeup}, which any thread may call.
 */
final class EpollPoller {
    private static final int MAX_EVENTS = 1024;
    private static final int IN_EVENTS = Linux.EPOLLIN;
    private static final int OUT_EVENTS = Linux.EPOLLOUT;

    private final Linux.Calls sys;
    private final int epfd;
    private final int wakeFd;
    private final ByteBuffer events;
    private final long eventsAddress;
    private final ByteBuffer wakeBuffer = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    private final long wakeAddress;
    private IoHandler[] handlers = new IoHandler[1024];
    /** Interest per descriptor, SelectionKey bits; -1 = not in epoll. */
    private int[] interest = new int[1024];
    private int[] pendingClose = new int[64];
    private int pendingCloses;
    /**
     * Wake-ups in progress on other threads; negative once closed. The eventfd must not be closed while another
     * thread is about to write to it: its number could already belong to a new socket, which would receive the
     * 8 bytes. close() waits for in-flight wake-ups (a few instructions each), then refuses new ones.
     */
    private final java.util.concurrent.atomic.AtomicInteger wakers = new java.util.concurrent.atomic.AtomicInteger();
    /** The epoll bits of the event being dispatched (see {@link #eventBroken}). */
    private int currentEvents;
    /** Inside {@link #poll}'s dispatch: closes must wait until the batch is done. */
    private boolean dispatching;

    EpollPoller(Linux.Calls sys) throws IOException {
        this.sys = sys;
        Arrays.fill(interest, -1);
        events = ByteBuffer.allocateDirect(MAX_EVENTS * Linux.EPOLL_EVENT_SIZE).order(ByteOrder.nativeOrder());
        eventsAddress = Linux.address(events);
        wakeAddress = Linux.address(wakeBuffer);
        epfd = sys.epollCreate1(0x80000 /* EPOLL_CLOEXEC */);
        if (epfd < 0) {
            throw new IOException("epoll_create1 failed: errno " + sys.errno());
        }
        wakeFd = sys.eventfd(0, Linux.EFD_NONBLOCK | Linux.EFD_CLOEXEC);
        if (wakeFd < 0 || sys.epollCtl(epfd, Linux.EPOLL_CTL_ADD, wakeFd, Linux.EPOLLIN, wakeFd) < 0) {
            int errno = sys.errno();
            sys.close(epfd);
            throw new IOException("eventfd for wake-ups failed: errno " + errno);
        }
    }

    /** Starts watching {@code fd} for {@code handler}, with no interest yet. */
    void register(int fd, IoHandler handler) {
        ensure(fd);
        handlers[fd] = handler;
        interest[fd] = -1;
    }

    /** Sets the interest of a registered descriptor (SelectionKey bits); one epoll_ctl only when it changes. */
    void interest(int fd, int ops) throws IOException {
        int old = interest[fd];
        if (old == ops) {
            return;
        }
        int ev = toEpoll(ops);
        int r;
        if (old < 0) {
            if (ops == 0) {
                return; // not in epoll and nothing wanted: stay out
            }
            r = sys.epollCtl(epfd, Linux.EPOLL_CTL_ADD, fd, ev, fd);
        } else {
            r = sys.epollCtl(epfd, Linux.EPOLL_CTL_MOD, fd, ev, fd);
        }
        if (r < 0) {
            throw new IOException("epoll_ctl on fd " + fd + " failed: errno " + sys.errno());
        }
        interest[fd] = ops;
    }

    int interest(int fd) {
        return Math.max(0, interest[fd]);
    }

    private static int toEpoll(int ops) {
        int ev = 0;
        if ((ops & (SelectionKey.OP_READ | SelectionKey.OP_ACCEPT)) != 0) {
            ev |= IN_EVENTS;
        }
        if ((ops & (SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT)) != 0) {
            ev |= OUT_EVENTS;
        }
        return ev;
    }

    /** Forgets {@code fd} now and closes it — after the current batch when one is being dispatched. */
    void close(int fd) {
        if (fd < handlers.length) {
            handlers[fd] = null;
            interest[fd] = -1;
        }
        if (!dispatching) {
            sys.close(fd);
            return;
        }
        if (pendingCloses == pendingClose.length) {
            pendingClose = Arrays.copyOf(pendingClose, pendingCloses * 2);
        }
        pendingClose[pendingCloses++] = fd;
    }

    boolean hasDeferredCloses() {
        return pendingCloses > 0;
    }

    /** Closes the descriptors given to {@link #close} since the last call. */
    void closeDeferred() {
        for (int i = 0; i < pendingCloses; i++) {
            sys.close(pendingClose[i]);
        }
        pendingCloses = 0;
    }

    /**
     * Waits up to {@code timeoutMillis} (0: not at all) and hands every ready descriptor to {@code loop}.
     *
     * @return the number of descriptors dispatched
     */
    int poll(long timeoutMillis, EventLoop loop) {
        int n = sys.epollWait(epfd, eventsAddress, MAX_EVENTS, (int) timeoutMillis);
        if (n < 0) {
            return 0; // EINTR (a signal for the JVM): just another turn
        }
        int dispatched = 0;
        dispatching = true;
        for (int i = 0; i < n; i++) {
            int base = i * Linux.EPOLL_EVENT_SIZE;
            int ev = events.getInt(base);
            int fd = events.getInt(base + Linux.EPOLL_DATA_OFFSET);
            if (fd == wakeFd) {
                sys.read(wakeFd, wakeAddress, 8);
                continue;
            }
            IoHandler h = fd < handlers.length ? handlers[fd] : null;
            if (h == null) {
                continue; // closed earlier in this batch
            }
            int want = interest[fd];
            int ready = 0;
            boolean broken = (ev & (Linux.EPOLLERR | Linux.EPOLLHUP)) != 0;
            if ((ev & Linux.EPOLLIN) != 0 || broken) {
                ready |= want & (SelectionKey.OP_READ | SelectionKey.OP_ACCEPT);
            }
            if ((ev & Linux.EPOLLOUT) != 0 || broken) {
                ready |= want & (SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT);
            }
            if (ready == 0) {
                if (broken && want >= 0) {
                    // nothing wanted, but level-triggered epoll keeps reporting the error: step out until wanted
                    sys.epollCtl(epfd, Linux.EPOLL_CTL_DEL, fd, 0, fd);
                    interest[fd] = -1;
                }
                continue;
            }
            dispatched++;
            currentEvents = ev;
            loop.dispatch(h, ready);
        }
        dispatching = false;
        currentEvents = 0;
        closeDeferred();
        return dispatched;
    }

    /**
     * Whether the event being dispatched carried an error or hang-up. A connecting socket that became writable
     * without one has connected: no getsockopt(SO_ERROR) is needed to know it (HAProxy relies on the same).
     */
    boolean eventBroken() {
        return (currentEvents & (Linux.EPOLLERR | Linux.EPOLLHUP)) != 0 || !dispatching;
    }

    /** Any thread: makes a blocked {@link #poll} return. No errno is read, so no per-thread state is needed. */
    void wakeup() {
        if (wakers.getAndIncrement() >= 0) {
            Linux.eventfdSignal(wakeFd);
        }
        wakers.getAndDecrement();
    }

    /** Descriptors still registered (for shutdown). */
    void forEachRegistered(java.util.function.IntConsumer action) {
        for (int fd = 0; fd < handlers.length; fd++) {
            if (handlers[fd] != null) {
                action.accept(fd);
            }
        }
    }

    void close() {
        if (wakers.get() < 0) {
            return; // closed already
        }
        closeDeferred();
        while (!wakers.compareAndSet(0, Integer.MIN_VALUE)) {
            Thread.onSpinWait();
        }
        sys.close(wakeFd);
        sys.close(epfd);
    }

    private void ensure(int fd) {
        if (fd >= handlers.length) {
            int size = Math.max(fd + 1, handlers.length * 2);
            handlers = Arrays.copyOf(handlers, size);
            int old = interest.length;
            interest = Arrays.copyOf(interest, size);
            Arrays.fill(interest, old, size, -1);
        }
    }
}
