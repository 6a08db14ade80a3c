package io.nioproxy.transport.epoll;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.sys.Linux;
import io.nioproxy.sys.SockAddr;
import io.nioproxy.transport.Conn;
import io.nioproxy.transport.Dispatcher;
import io.nioproxy.transport.IoHandler;
import io.nioproxy.transport.Poller;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loop's readiness source in {@code proxy.io=epoll} mode: one epoll instance driven through
 * {@link Linux} calls, with sockets named by their descriptor number instead of a SelectionKey. What it saves over
 * java.nio's selector, per socket: the key object, the selector's key set and fd→key map entries, the EPOLL_CTL_DEL
 * before close (closing a descriptor removes it from epoll), and — for session sockets, which are edge-triggered —
 * every EPOLL_CTL_MOD: a session socket is added once with every event it can ever want and never touched again.
 *
 * <p>Interest is given in {@link SelectionKey} bits so that handlers are the same in both modes; ready events are
 * translated back the way the JDK's {@code SocketChannelImpl.translateReadyOps} does (an error or hang-up makes every
 * operation ready, so that the handler's next call finds the error).
 *
 * <h2>Edge-triggered sockets, with the relay's level-triggered logic on top</h2>
 * The relay is written for level-triggered readiness: it stops reading when its sink is full or after a bounded
 * number of reads, turns interest off while a connect is under way, and expects to hear again. Edge-triggered epoll
 * reports a change once. So the poller keeps, per descriptor, the readiness it has been told of and not yet
 * delivered ({@code ready}): an edge adds to it; a dispatch delivers {@code ready & interest} and removes what it
 * delivered; readiness that arrives while it is not wanted (client bytes while the backend connects) stays, and is
 * delivered as soon as interest asks for it ({@link #interest} queues the descriptor for a dispatch without a system
 * call). A handler that stops reading before the socket is drained says so ({@link #readAgain}), and is dispatched
 * again on the next turn. Listening sockets stay level-triggered (one accept per event; the listener is reported
 * again while clients wait).
 *
 * <p>Descriptor reuse: a socket closed while events of the same batch are still to be dispatched could have its
 * number reused by an accept in that batch and receive the old socket's events. So {@link #close} forgets the
 * handler at once and defers the close(2) itself until the batch is done.
 *
 * <p>Threading: everything on the loop thread, except {@link #wakeup}, which any thread may call.
 */
public final class EpollPoller implements Poller {
    private static final int MAX_EVENTS = 1024;
    private static final int EDGE_EVENTS = Linux.EPOLLIN | Linux.EPOLLOUT | Linux.EPOLLRDHUP | Linux.EPOLLET;
    private static final int ALL_OPS = SelectionKey.OP_READ | SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT
            | SelectionKey.OP_ACCEPT;
    private static final int IN_EPOLL = 1;
    private static final int EDGE = 2;
    private static final int QUEUED = 4;
    /** The peer's FIN (EPOLLRDHUP) or a hang-up has been seen: an end of stream is waiting behind any data. */
    private static final int PEER_SHUT = 8;
    /** EPOLLERR has been seen (a reset, an ICMP error): what follows the data is an error, not an end of stream. */
    private static final int ERROR_SEEN = 16;

    private final Linux.Calls sys;
    private final int epfd;
    private final int wakeFd;
    private final ByteBuffer events;
    private final long eventsAddress;
    private final ByteBuffer wakeBuffer = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    private final long wakeAddress;
    private IoHandler[] handlers = new IoHandler[1024];
    /** Interest per descriptor, SelectionKey bits. */
    private int[] interest = new int[1024];
    /** Edge-triggered descriptors: readiness told by epoll (or by {@link #readAgain}) and not yet delivered. */
    private int[] ready = new int[1024];
    /** The epoll bits of the last event per descriptor (for {@link #eventBroken}). */
    private int[] lastEvents = new int[1024];
    /** IN_EPOLL, EDGE, QUEUED per descriptor. */
    private int[] flags = new int[1024];
    /** Descriptors to dispatch from {@code ready} after the batch: readiness that became wanted, or read-again. */
    private int[] queue = new int[MAX_EVENTS]; // as pendingClose: large enough that growing is rare
    private int queued;
    // Sized for a full batch in which every event ends a session (two descriptors each): growing it would be the one
    // branch of close() a warm-up with few clients never takes, compiled as a trap and hit by the first burst of
    // closes under real load (docs/decisions/0003-start-up-warm-up.md). 8 KiB per loop.
    private int[] pendingClose = new int[2 * MAX_EVENTS];
    private int pendingCloses;
    /**
     * Wake-ups in progress on other threads; negative once closed. The eventfd must not be closed while another
     * thread is about to write to it: its number could already belong to a new socket, which would receive the
     * 8 bytes. close() waits for in-flight wake-ups (a few instructions each), then refuses new ones.
     */
    private final AtomicInteger wakers = new AtomicInteger();
    /** The descriptor whose event is being dispatched, -1 outside dispatch. */
    private int current = -1;
    /** Inside {@link #poll}'s dispatch: closes must wait until the batch is done. */
    private boolean dispatching;

    /** A heap buffer's bytes on their way to write(2) (a PROXY header: at most a few hundred bytes). */
    private final ByteBuffer heapWrites = ByteBuffer.allocateDirect(512);
    private final ByteBuffer scratchAddress = ByteBuffer.allocateDirect(SockAddr.CAPACITY);

    EpollPoller(Linux.Calls sys) throws IOException {
        this.sys = sys;
        events = ByteBuffer.allocateDirect(MAX_EVENTS * Linux.EPOLL_EVENT_SIZE).order(ByteOrder.nativeOrder());
        eventsAddress = Linux.address(events);
        wakeAddress = Linux.address(wakeBuffer);
        epfd = sys.epollCreate1(Linux.EPOLL_CLOEXEC);
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

    /**
     * Starts watching {@code fd} for {@code handler}, with no interest yet.
     *
     * @param edgeTriggered a session socket (added once, never modified); false for a listening socket
     */
    void register(int fd, IoHandler handler, boolean edgeTriggered) {
        ensure(fd);
        handlers[fd] = handler;
        interest[fd] = 0;
        ready[fd] = 0;
        lastEvents[fd] = 0;
        flags[fd] = edgeTriggered ? EDGE : 0;
    }

    /**
     * Sets the interest of a registered descriptor (SelectionKey bits). Edge-triggered: an epoll_ctl only the first
     * time any interest is given; afterwards none — readiness already told that is now wanted is queued for
     * dispatch. Level-triggered: one epoll_ctl whenever the interest changes.
     */
    void interest(int fd, int ops) throws IOException {
        int f = flags[fd];
        if ((f & EDGE) != 0) {
            // Writability told earlier may be stale (the relay usually asks for OP_WRITE after a write that could
            // not finish): delivering it costs one write that returns nothing, and the next edge comes when space
            // frees. Not delivering it could strand bytes that were never tried (a PROXY header's payload waiting
            // for the backend connect), so it is delivered.
            interest[fd] = ops;
            if ((f & IN_EPOLL) == 0) {
                if (ops == 0) {
                    return;
                }
                ctl(Linux.EPOLL_CTL_ADD, fd, EDGE_EVENTS);
                flags[fd] = f | IN_EPOLL;
            } else if ((ready[fd] & ops) != 0) {
                enqueue(fd);
            }
            return;
        }
        int old = (f & IN_EPOLL) == 0 ? -1 : interest[fd];
        if (old == ops || (old < 0 && ops == 0)) {
            return;
        }
        ctl(old < 0 ? Linux.EPOLL_CTL_ADD : Linux.EPOLL_CTL_MOD, fd, toEpoll(ops));
        flags[fd] = f | IN_EPOLL;
        interest[fd] = ops;
    }

    private void ctl(int op, int fd, int ev) throws IOException {
        if (sys.epollCtl(epfd, op, fd, ev, fd) < 0) {
            throw new IOException("epoll_ctl on fd " + fd + " failed: errno " + sys.errno());
        }
    }

    /**
     * Edge-triggered: the handler stopped reading {@code fd} before it was drained (a bound on reads per event);
     * dispatch it again for reading on the next turn, as level-triggered epoll would have.
     */
    void readAgain(int fd) {
        if (fd < handlers.length && handlers[fd] != null && (flags[fd] & EDGE) != 0) {
            ready[fd] |= SelectionKey.OP_READ;
            enqueue(fd);
        }
    }

    /**
     * Edge-triggered: whether the peer's FIN has been seen on {@code fd}. A read that drains the data before it does
     * not return the end of stream, and no further edge will come for it: the reader must read once more.
     */
    boolean peerShut(int fd) {
        return fd < flags.length && (flags[fd] & PEER_SHUT) != 0;
    }

    /**
     * Whether the peer's FIN has been seen on {@code fd} and no error: a read that returned less than it asked for
     * has then taken every byte before that FIN (TCP reports the FIN only once all data before it is queued in
     * order), so the next read can only return the end of stream.
     */
    boolean peerFinClean(int fd) {
        return fd < flags.length && (flags[fd] & (PEER_SHUT | ERROR_SEEN)) == PEER_SHUT;
    }

    private void enqueue(int fd) {
        if ((flags[fd] & QUEUED) != 0) {
            return;
        }
        flags[fd] |= QUEUED;
        if (queued == queue.length) {
            queue = Arrays.copyOf(queue, queued * 2);
        }
        queue[queued++] = fd;
    }

    @Override
    public boolean hasWork() {
        return queued > 0; // read-again or newly wanted readiness: dispatched without waiting for an event
    }

    @Override
    public void endTurn() {
        closeDeferred(); // closes made by the turn's timers and services
    }

    @Override
    public Conn openBackend(InetSocketAddress remote, ListenerConfig config) throws IOException {
        return EpollConn.openBackend(remote, config, this);
    }

    /** This loop thread's system calls (their errno cell belongs to it). */
    Linux.Calls sys() {
        return sys;
    }

    /** A sockaddr-sized direct buffer for one call at a time. */
    ByteBuffer scratchAddress() {
        return scratchAddress;
    }

    /** A direct buffer for copying a small heap buffer into before a write; one call at a time. */
    ByteBuffer heapWrites() {
        return heapWrites;
    }

    private static int toEpoll(int ops) {
        int ev = 0;
        if ((ops & (SelectionKey.OP_READ | SelectionKey.OP_ACCEPT)) != 0) {
            ev |= Linux.EPOLLIN;
        }
        if ((ops & (SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT)) != 0) {
            ev |= Linux.EPOLLOUT;
        }
        return ev;
    }

    /** The SelectionKey bits an epoll event makes ready. */
    private static int toOps(int ev) {
        if ((ev & (Linux.EPOLLERR | Linux.EPOLLHUP)) != 0) {
            return ALL_OPS;
        }
        int ops = 0;
        if ((ev & (Linux.EPOLLIN | Linux.EPOLLRDHUP)) != 0) {
            ops |= SelectionKey.OP_READ | SelectionKey.OP_ACCEPT;
        }
        if ((ev & Linux.EPOLLOUT) != 0) {
            ops |= SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT;
        }
        return ops;
    }

    /** Forgets {@code fd} now and closes it — after the current batch when one is being dispatched. */
    /**
     * The descriptor's socket now belongs to another process too: take it out of this epoll set first (a set keys
     * on the open file, which the other process keeps open, so a plain close would leave it here, reporting its
     * events), then close this process's descriptor.
     */
    void handOver(int fd) {
        if (fd < flags.length && (flags[fd] & IN_EPOLL) != 0) {
            sys.epollCtl(epfd, Linux.EPOLL_CTL_DEL, fd, 0, fd);
            flags[fd] &= ~IN_EPOLL;
        }
        close(fd);
    }

    void close(int fd) {
        if (fd < handlers.length) {
            handlers[fd] = null;
            interest[fd] = 0;
            ready[fd] = 0;
            flags[fd] &= QUEUED; // a queued entry finds no handler and is dropped
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

    /** Closes the descriptors given to {@link #close} during dispatch. */
    private void closeDeferred() {
        for (int i = 0; i < pendingCloses; i++) {
            sys.close(pendingClose[i]);
        }
        pendingCloses = 0;
    }

    /**
     * Waits up to {@code timeoutMillis} (0: not at all; never when descriptors are queued) and hands every ready
     * descriptor to {@code loop}, then the queued ones.
     *
     * @return the events epoll reported (a wake-up included; -1 on EINTR): the loop's idle strategy counts a turn with
     *         any as busy
     */
    @Override
    public int poll(long timeoutMillis, Dispatcher loop) {
        int n = sys.epollWait(epfd, eventsAddress, MAX_EVENTS, queued > 0 ? 0 : (int) timeoutMillis);
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
            lastEvents[fd] = ev;
            if ((ev & (Linux.EPOLLRDHUP | Linux.EPOLLHUP)) != 0) {
                flags[fd] |= PEER_SHUT;
            }
            if ((ev & Linux.EPOLLERR) != 0) {
                flags[fd] |= ERROR_SEEN;
            }
            if ((flags[fd] & EDGE) != 0) {
                int r = ready[fd] | toOps(ev);
                int deliver = r & interest[fd];
                ready[fd] = r & ~deliver;
                if (deliver != 0) {
                    dispatch(loop, fd, h, deliver);
                }
                continue;
            }
            int want = interest[fd];
            int deliver = toOps(ev) & want;
            if (deliver != 0) {
                dispatch(loop, fd, h, deliver);
            } else if ((ev & (Linux.EPOLLERR | Linux.EPOLLHUP)) != 0 && (flags[fd] & IN_EPOLL) != 0) {
                // level-triggered, nothing wanted, but epoll keeps reporting the error: step out until wanted
                sys.epollCtl(epfd, Linux.EPOLL_CTL_DEL, fd, 0, fd);
                flags[fd] &= ~IN_EPOLL;
            }
        }
        drainQueue(loop);
        dispatching = false;
        closeDeferred();
        return n;
    }

    /** Dispatches the descriptors queued before this batch (those queued while draining wait for the next turn). */
    private void drainQueue(Dispatcher loop) {
        int count = queued;
        for (int i = 0; i < count; i++) {
            int fd = queue[i];
            flags[fd] &= ~QUEUED;
            IoHandler h = handlers[fd];
            if (h == null) {
                continue;
            }
            int deliver = ready[fd] & interest[fd];
            if (deliver != 0) {
                ready[fd] &= ~deliver;
                lastEvents[fd] = 0;
                dispatch(loop, fd, h, deliver);
            }
        }
        System.arraycopy(queue, count, queue, 0, queued - count);
        queued -= count;
    }

    private void dispatch(Dispatcher loop, int fd, IoHandler h, int ops) {
        current = fd;
        if (!loop.dispatch(h, ops)) {
            close(fd); // even its failure handling failed: drop the descriptor rather than report it again
        }
        current = -1;
    }

    /**
     * Whether the event being dispatched carried an error or hang-up. A connecting socket that became writable
     * without one has connected: no getsockopt(SO_ERROR) is needed to know it (HAProxy relies on the same). True
     * when nothing is known (outside dispatch, or a dispatch from the queue).
     */
    boolean eventBroken() {
        return current < 0 || lastEvents[current] == 0
                || (lastEvents[current] & (Linux.EPOLLERR | Linux.EPOLLHUP)) != 0;
    }

    /** Any thread: makes a blocked {@link #poll} return. No errno is read, so no per-thread state is needed. */
    @Override
    public void wakeup() {
        if (wakers.getAndIncrement() >= 0) {
            Linux.eventfdSignal(wakeFd);
        }
        wakers.getAndDecrement();
    }

    /** Closes every descriptor still registered (listeners: sessions were closed by their tables), then itself. */
    @Override
    public void close() {
        if (wakers.get() < 0) {
            return; // closed already
        }
        dispatching = false;
        for (int fd = 0; fd < handlers.length; fd++) {
            if (handlers[fd] != null) {
                close(fd);
            }
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
            interest = Arrays.copyOf(interest, size);
            ready = Arrays.copyOf(ready, size);
            lastEvents = Arrays.copyOf(lastEvents, size);
            flags = Arrays.copyOf(flags, size);
        }
    }
}
