package io.nioproxy.sys;

import java.lang.invoke.MethodHandle;
import java.lang.reflect.Array;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;

/**
 * The Linux system calls a relay needs, called directly through the JDK's foreign-function API (final in JDK 22),
 * for a loop that wants to skip what java.nio adds around them: the fcntl pair of configureBlocking, the two
 * getsockname calls the JDK makes for every accepted and connected socket, the poll() in finishConnect, the
 * selector's epoll_ctl DEL before every close, and the objects behind each SocketChannel and SelectionKey.
 *
 * <p>The balancer is built for Java 17, where {@code java.lang.foreign} does not exist, so the bindings are made
 * reflectively once, at class initialisation, and what the hot path holds is plain {@link MethodHandle}s whose types
 * use only {@code int} and {@code long} (pointers are passed as addresses: the same register class in the x86-64 and
 * AArch64 calling conventions). {@link #AVAILABLE} is false on JDK 17–21, on other systems and other CPUs, and when
 * anything in the binding fails; callers then use java.nio.
 *
 * <p>errno: every call captures it into one per-thread native cell (the FFM {@code captureCallState} option);
 * {@link Calls#errno()} reads it after a call returned -1. Threading: a {@link Calls} belongs to one thread.
 */
public final class Linux {
    public static final int AF_UNIX = 1;
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_NONBLOCK = 0x800;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLL_CTL_DEL = 2;
    public static final int EPOLL_CTL_MOD = 3;
    public static final int EPOLLIN = 0x1;
    public static final int EPOLLOUT = 0x4;
    public static final int EPOLLERR = 0x8;
    public static final int EPOLLHUP = 0x10;
    public static final int EPOLLRDHUP = 0x2000;
    public static final int EPOLLET = 1 << 31;
    public static final int EPOLL_CLOEXEC = 0x80000;
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int ENFILE = 23;
    public static final int EMFILE = 24;
    public static final int EADDRINUSE = 98;
    public static final int EADDRNOTAVAIL = 99;
    public static final int ENETUNREACH = 101;
    public static final int ECONNABORTED = 103;
    public static final int ETIMEDOUT = 110;
    public static final int EHOSTUNREACH = 113;
    public static final int ECONNREFUSED = 111;
    public static final int EINPROGRESS = 115;
    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2;
    public static final int SO_ERROR = 4;
    public static final int SO_SNDBUF = 7;
    public static final int SO_RCVBUF = 8;
    public static final int SO_KEEPALIVE = 9;
    public static final int SO_LINGER = 13;
    public static final int SO_REUSEPORT = 15;
    public static final int SO_RCVTIMEO = 20;
    public static final int SO_SNDTIMEO = 21;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_SEQPACKET = 5;
    public static final int IPPROTO_TCP = 6;
    public static final int TCP_NODELAY = 1;
    public static final int TCP_KEEPIDLE = 4;
    public static final int TCP_KEEPINTVL = 5;
    public static final int TCP_KEEPCNT = 6;
    public static final int SHUT_WR = 1;
    public static final int MSG_MORE = 0x8000;
    public static final int EFD_NONBLOCK = 0x800;
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int PRIO_PROCESS = 0;

    /** Bytes per {@code struct epoll_event}: packed on x86-64 (12), naturally aligned elsewhere (16). */
    public static final int EPOLL_EVENT_SIZE;
    /** Offset of the 64-bit data field in {@code struct epoll_event}. */
    public static final int EPOLL_DATA_OFFSET;

    /** True when the bindings are usable on this JVM and system. */
    public static final boolean AVAILABLE;
    /** Why they are not, for the log (null when available). */
    public static final String UNAVAILABLE_REASON;

    private static final MethodHandle EPOLL_CREATE1, EPOLL_CTL, EPOLL_WAIT, ACCEPT4, SOCKET, CONNECT, BIND, LISTEN,
            GETSOCKOPT, SETSOCKOPT, READ, WRITE, SHUTDOWN, CLOSE, EVENTFD, GETSOCKNAME, WRITE_PLAIN, SETPRIORITY,
            SEND, SENDMSG, RECVMSG, ACCEPT4_BLOCKING, CONNECT_BLOCKING;
    /** The 8-byte counter increment an eventfd wake-up writes; never changed after class initialisation. */
    private static final ByteBuffer ONE = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()).putLong(0, 1);
    private static final long ONE_ADDRESS;
    private static final Method SEGMENT_OF_BUFFER;
    /** (Buffer)long: the native address of a direct buffer's position; inlined by the JIT (a constant handle). */
    private static final MethodHandle POSITION_ADDRESS;
    private static final int ERRNO_OFFSET;
    private static final int CAPTURE_SIZE;

    static {
        String arch = System.getProperty("os.arch", "");
        EPOLL_EVENT_SIZE = arch.equals("amd64") || arch.equals("x86_64") ? 12 : 16;
        EPOLL_DATA_OFFSET = EPOLL_EVENT_SIZE == 12 ? 4 : 8;
        MethodHandle[] h = new MethodHandle[23];
        long oneAddress = 0;
        MethodHandle positionAddress = null;
        Method ofBuffer = null, address = null;
        int errnoOffset = 0, captureSize = 0;
        String reason = null;
        try {
            if (!System.getProperty("os.name", "").equals("Linux")) {
                throw new UnsupportedOperationException("not Linux");
            }
            if (!(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) {
                throw new UnsupportedOperationException("CPU " + arch);
            }
            if (Runtime.version().feature() < 22) {
                throw new UnsupportedOperationException("JDK " + Runtime.version().feature() + " (needs 22+)");
            }
            Binder b = new Binder();
            errnoOffset = b.errnoOffset;
            captureSize = b.captureSize;
            int i = 0;
            h[i++] = b.bind("epoll_create1", false, 'I', 'I');
            h[i++] = b.bind("epoll_ctl", true, 'I', 'I', 'I', 'I', 'J');
            h[i++] = b.bind("epoll_wait", false, 'I', 'I', 'J', 'I', 'I');
            h[i++] = b.bind("accept4", true, 'I', 'I', 'J', 'J', 'I');
            h[i++] = b.bind("socket", true, 'I', 'I', 'I', 'I');
            h[i++] = b.bind("connect", true, 'I', 'I', 'J', 'I');
            h[i++] = b.bind("bind", true, 'I', 'I', 'J', 'I');
            h[i++] = b.bind("listen", true, 'I', 'I', 'I');
            h[i++] = b.bind("getsockopt", true, 'I', 'I', 'I', 'I', 'J', 'J');
            h[i++] = b.bind("setsockopt", true, 'I', 'I', 'I', 'I', 'J', 'I');
            h[i++] = b.bind("read", true, 'J', 'I', 'J', 'J');
            h[i++] = b.bind("write", true, 'J', 'I', 'J', 'J');
            h[i++] = b.bind("shutdown", true, 'I', 'I', 'I');
            h[i++] = b.bind("close", true, 'I', 'I');
            h[i++] = b.bind("eventfd", true, 'I', 'I', 'I');
            h[i++] = b.bind("getsockname", true, 'I', 'I', 'J', 'J');
            h[i++] = b.bindPlain("write", 'J', 'I', 'J', 'J');
            h[i++] = b.bind("setpriority", true, 'I', 'I', 'I', 'I');
            h[i++] = b.bind("send", true, 'J', 'I', 'J', 'J', 'I');
            // the take-over's calls block (a Unix-domain socket in blocking mode): never critical, so that the
            // thread is in native state while it waits and the JVM can reach a safepoint without it
            h[i++] = b.bind("sendmsg", false, 'J', 'I', 'J', 'I');
            h[i++] = b.bind("recvmsg", false, 'J', 'I', 'J', 'I');
            h[i++] = b.bind("accept4", false, 'I', 'I', 'J', 'J', 'I');
            h[i++] = b.bind("connect", false, 'I', 'I', 'J', 'I');
            Class<?> seg = Class.forName("java.lang.foreign.MemorySegment");
            ofBuffer = seg.getMethod("ofBuffer", java.nio.Buffer.class);
            address = seg.getMethod("address");
            oneAddress = (long) address.invoke(ofBuffer.invoke(null, ONE));
            java.lang.invoke.MethodHandles.Lookup pub = java.lang.invoke.MethodHandles.publicLookup();
            MethodHandle of = pub.unreflect(ofBuffer);
            MethodHandle addr = pub.unreflect(address);
            positionAddress = java.lang.invoke.MethodHandles.filterReturnValue(
                    of.asType(of.type().changeReturnType(Object.class)),
                    addr.asType(addr.type().changeParameterType(0, Object.class)));
        } catch (Throwable e) {
            reason = e instanceof java.lang.reflect.InvocationTargetException ite ? String.valueOf(ite.getCause())
                    : String.valueOf(e);
            java.util.Arrays.fill(h, null);
        }
        EPOLL_CREATE1 = h[0];
        EPOLL_CTL = h[1];
        EPOLL_WAIT = h[2];
        ACCEPT4 = h[3];
        SOCKET = h[4];
        CONNECT = h[5];
        BIND = h[6];
        LISTEN = h[7];
        GETSOCKOPT = h[8];
        SETSOCKOPT = h[9];
        READ = h[10];
        WRITE = h[11];
        SHUTDOWN = h[12];
        CLOSE = h[13];
        EVENTFD = h[14];
        GETSOCKNAME = h[15];
        WRITE_PLAIN = h[16];
        SETPRIORITY = h[17];
        SEND = h[18];
        SENDMSG = h[19];
        RECVMSG = h[20];
        ACCEPT4_BLOCKING = h[21];
        CONNECT_BLOCKING = h[22];
        ONE_ADDRESS = oneAddress;
        POSITION_ADDRESS = positionAddress;
        SEGMENT_OF_BUFFER = ofBuffer;
        ERRNO_OFFSET = errnoOffset;
        CAPTURE_SIZE = captureSize;
        UNAVAILABLE_REASON = reason;
        AVAILABLE = reason == null;
    }

    private Linux() {
    }

    /** The native address of a direct buffer's first byte (not its position). */
    public static long address(ByteBuffer direct) {
        if (!direct.isDirect()) {
            throw new IllegalArgumentException("not a direct buffer");
        }
        return positionAddress(direct.duplicate().clear());
    }

    /** The usual strerror text for the errors a balancer meets, for messages and logs; the number for the rest. */
    public static String strerror(int errno) {
        return switch (errno) {
            case 2 -> "No such file or directory";
            case 9 -> "Bad file descriptor";
            case EAGAIN -> "Resource temporarily unavailable";
            case 13 -> "Permission denied";
            case ENFILE -> "Too many open files in system";
            case EMFILE -> "Too many open files";
            case 32 -> "Broken pipe";
            case 98 -> "Address already in use";
            case EADDRNOTAVAIL -> "Cannot assign requested address";
            case 101 -> "Network is unreachable";
            case 103 -> "Software caused connection abort";
            case 104 -> "Connection reset by peer";
            case 107 -> "Transport endpoint is not connected";
            case 110 -> "Connection timed out";
            case ECONNREFUSED -> "Connection refused";
            case 113 -> "No route to host";
            default -> "errno " + errno;
        };
    }

    /**
     * Any thread: adds 1 to an eventfd's counter, waking whoever polls it. Captures no errno (a full counter or a
     * closed descriptor only means the poller is already awake or gone), so it needs no per-thread state.
     */
    public static void eventfdSignal(int fd) {
        try {
            long ignored = (long) WRITE_PLAIN.invokeExact(fd, ONE_ADDRESS, 8L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The native address of a direct buffer's current position (hot path: no reflection, no allocation kept). */
    public static long positionAddress(ByteBuffer direct) {
        try {
            return (long) POSITION_ADDRESS.invokeExact((java.nio.Buffer) direct);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static final int SCM_RIGHTS = 1;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int MSG_CTRUNC = 0x8;
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;

    /**
     * A {@code struct msghdr} with one {@code iovec} over a direct buffer's remaining bytes and room for {@code fds}
     * descriptors of control data, in native memory (LP64 layout: x86-64 and AArch64).
     */
    private static final class Msg {
        static final int CMSG_HEADER = 16; // cmsg_len (8), cmsg_level (4), cmsg_type (4)
        final ByteBuffer header = ByteBuffer.allocateDirect(56 + 16).order(ByteOrder.nativeOrder());
        final ByteBuffer control;
        final long address;

        Msg(ByteBuffer data, int fds) {
            control = ByteBuffer.allocateDirect(CMSG_HEADER + ((4 * Math.max(fds, 1) + 7) & ~7))
                    .order(ByteOrder.nativeOrder());
            address = address(header);
            long iov = address + 56;
            header.putLong(0, 0).putInt(8, 0);               // msg_name, msg_namelen
            header.putLong(16, iov).putLong(24, 1);          // msg_iov, msg_iovlen
            header.putLong(32, fds > 0 ? address(control) : 0).putLong(40, fds > 0 ? control.capacity() : 0);
            header.putInt(48, 0);                            // msg_flags
            header.putLong(56, positionAddress(data)).putLong(64, data.remaining());
        }
    }

    /** A new set of calls for the current thread, with its own errno cell. */
    public static Calls calls() {
        if (!AVAILABLE) {
            throw new UnsupportedOperationException("raw Linux calls unavailable: " + UNAVAILABLE_REASON);
        }
        return new Calls();
    }

    /**
     * The calls bound to one errno cell. One owner thread (the errno cell is written by every call). Each method
     * returns what the system call returns: -1 on failure, then {@link #errno()} says why.
     */
    public static final class Calls {
        private final ByteBuffer state;
        /** The errno cell as the FFM API wants it (a MemorySegment, held as Object: compiled for Java 17). */
        private final Object cell;
        /** Scratch for small option values and lengths: 16 bytes, owner thread only. */
        private final ByteBuffer scratch = ByteBuffer.allocateDirect(64).order(ByteOrder.nativeOrder());
        private final long scratchAddress = address(scratch);

        private Calls() {
            state = ByteBuffer.allocateDirect(Math.max(CAPTURE_SIZE, 16)).order(ByteOrder.nativeOrder());
            try {
                cell = SEGMENT_OF_BUFFER.invoke(null, state);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }

        /** errno of the last call that failed. */
        public int errno() {
            return state.getInt(ERRNO_OFFSET);
        }

        /**
         * setpriority(2). With {@code which} = {@link #PRIO_PROCESS} Linux sets the nice value of one thread: the
         * calling one for {@code who} = 0, otherwise the thread whose id is {@code who}.
         */
        public int setpriority(int which, int who, int prio) {
            try {
                return (int) SETPRIORITY.invokeExact(cell, which, who, prio);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int epollCreate1(int flags) {
            try {
                return (int) EPOLL_CREATE1.invokeExact(cell, flags);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** epoll_ctl with the event built in scratch: {@code data} is what epoll_wait hands back. */
        public int epollCtl(int epfd, int op, int fd, int events, long data) {
            scratch.putInt(0, events);
            scratch.putLong(EPOLL_DATA_OFFSET, data);
            try {
                return (int) EPOLL_CTL.invokeExact(cell, epfd, op, fd, scratchAddress);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int epollWait(int epfd, long events, int max, int timeoutMillis) {
            try {
                return (int) EPOLL_WAIT.invokeExact(cell, epfd, events, max, timeoutMillis);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** accept4 that writes the peer's sockaddr at {@code addr} (room for {@code addrCapacity} bytes) or 0. */
        public int accept4(int fd, long addr, int addrCapacity, int flags) {
            long lenPtr = 0;
            if (addr != 0) {
                scratch.putInt(32, addrCapacity);
                lenPtr = scratchAddress + 32;
            }
            try {
                return (int) ACCEPT4.invokeExact(cell, fd, addr, lenPtr, flags);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int socket(int domain, int type, int protocol) {
            try {
                return (int) SOCKET.invokeExact(cell, domain, type, protocol);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int connect(int fd, long addr, int len) {
            try {
                return (int) CONNECT.invokeExact(cell, fd, addr, len);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int bind(int fd, long addr, int len) {
            try {
                return (int) BIND.invokeExact(cell, fd, addr, len);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int listen(int fd, int backlog) {
            try {
                return (int) LISTEN.invokeExact(cell, fd, backlog);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** An int-valued socket option, or -1 with errno set (then the value is meaningless). */
        public int getIntOption(int fd, int level, int name) {
            scratch.putInt(0, 0);
            return getsockopt(fd, level, name, scratchAddress, 4) < 0 ? -1 : scratch.getInt(0);
        }

        /** getsockopt into {@code addr} (room for {@code capacity} bytes): the length written, or -1. */
        public int getsockopt(int fd, int level, int name, long addr, int capacity) {
            scratch.putInt(8, capacity);
            int r;
            try {
                r = (int) GETSOCKOPT.invokeExact(cell, fd, level, name, addr, scratchAddress + 8);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            return r < 0 ? -1 : scratch.getInt(8);
        }

        public int setIntOption(int fd, int level, int name, int value) {
            scratch.putInt(0, value);
            try {
                return (int) SETSOCKOPT.invokeExact(cell, fd, level, name, scratchAddress, 4);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** SO_RCVTIMEO or SO_SNDTIMEO of a blocking socket (a {@code struct timeval}). */
        public int setTimeoutOption(int fd, int name, long millis) {
            scratch.putLong(0, millis / 1000).putLong(8, (millis % 1000) * 1000);
            try {
                return (int) SETSOCKOPT.invokeExact(cell, fd, SOL_SOCKET, name, scratchAddress, 16);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** SO_LINGER {on, 0}: the next close sends a reset. */
        public int setLingerZero(int fd) {
            scratch.putInt(0, 1);
            scratch.putInt(4, 0);
            try {
                return (int) SETSOCKOPT.invokeExact(cell, fd, SOL_SOCKET, SO_LINGER, scratchAddress, 8);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long read(int fd, long address, long count) {
            try {
                return (long) READ.invokeExact(cell, fd, address, count);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long write(int fd, long address, long count) {
            try {
                return (long) WRITE.invokeExact(cell, fd, address, count);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** send(2): write(2) with flags ({@link #MSG_MORE}). */
        public long send(int fd, long address, long count, int flags) {
            try {
                return (long) SEND.invokeExact(cell, fd, address, count, flags);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** accept4(2) that may block (a blocking socket): the thread waits in native state. */
        public int acceptBlocking(int fd, int flags) {
            try {
                return (int) ACCEPT4_BLOCKING.invokeExact(cell, fd, 0L, 0L, flags);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** connect(2) that may block (a blocking socket). */
        public int connectBlocking(int fd, long addr, int len) {
            try {
                return (int) CONNECT_BLOCKING.invokeExact(cell, fd, addr, len);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /**
         * sendmsg(2) of {@code data}'s remaining bytes with {@code fds} attached as one {@code SCM_RIGHTS} message
         * (none when empty): the receiver gets its own descriptors for the same open files. Not for the hot path (it
         * allocates the message header).
         *
         * @return bytes sent, or -1 ({@link #errno()})
         */
        public long sendFds(int fd, ByteBuffer data, int[] fds) {
            Msg m = new Msg(data, fds.length);
            if (fds.length > 0) {
                m.control.putLong(0, Msg.CMSG_HEADER + 4L * fds.length); // cmsg_len
                m.control.putInt(8, SOL_SOCKET);
                m.control.putInt(12, SCM_RIGHTS);
                for (int i = 0; i < fds.length; i++) {
                    m.control.putInt(Msg.CMSG_HEADER + 4 * i, fds[i]);
                }
            }
            try {
                return (long) SENDMSG.invokeExact(cell, fd, m.address, MSG_NOSIGNAL);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                java.lang.ref.Reference.reachabilityFence(m); // its buffers are freed with it: not before the call ends
                java.lang.ref.Reference.reachabilityFence(data);
            }
        }

        /**
         * recvmsg(2) into {@code data} (from its position), with room for {@code maxFds} descriptors, received
         * close-on-exec into {@code fds}; {@code fdCount[0]} says how many came. Not for the hot path.
         *
         * @return bytes read (0 at end of stream), or -1 ({@link #errno()})
         */
        public long recvFds(int fd, ByteBuffer data, int[] fds, int[] fdCount) {
            Msg m = new Msg(data, fds.length);
            long n;
            try {
                n = (long) RECVMSG.invokeExact(cell, fd, m.address, MSG_CMSG_CLOEXEC);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            java.lang.ref.Reference.reachabilityFence(data);
            fdCount[0] = 0;
            if (n >= 0) {
                long controlLen = m.header.getLong(40);
                if (controlLen >= Msg.CMSG_HEADER && m.control.getInt(8) == SOL_SOCKET
                        && m.control.getInt(12) == SCM_RIGHTS) {
                    int count = (int) ((m.control.getLong(0) - Msg.CMSG_HEADER) / 4);
                    for (int i = 0; i < count && i < fds.length; i++) {
                        fds[i] = m.control.getInt(Msg.CMSG_HEADER + 4 * i);
                    }
                    fdCount[0] = Math.min(count, fds.length);
                }
                if ((m.header.getInt(48) & MSG_CTRUNC) != 0) {
                    return -2; // descriptors were dropped for want of room: the caller's protocol is broken
                }
            }
            return n;
        }

        public int shutdown(int fd, int how) {
            try {
                return (int) SHUTDOWN.invokeExact(cell, fd, how);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int close(int fd) {
            try {
                return (int) CLOSE.invokeExact(cell, fd);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public int eventfd(int initial, int flags) {
            try {
                return (int) EVENTFD.invokeExact(cell, initial, flags);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** getsockname into {@code addr} (room for {@code capacity} bytes); returns the length or -1. */
        public int getsockname(int fd, long addr, int capacity) {
            scratch.putInt(32, capacity);
            try {
                int r = (int) GETSOCKNAME.invokeExact(cell, fd, addr, scratchAddress + 32);
                return r < 0 ? -1 : scratch.getInt(32);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    /** Builds downcall handles through reflection (JDK 22+ API, compiled against Java 17). Start-up only. */
    private static final class Binder {
        final Object linker;
        final Object lookup;
        final Object intLayout;
        final Object longLayout;
        final Class<?> layoutClass;
        final Class<?> segmentClass;
        final Class<?> optionClass;
        final Object capture;
        final Object critical;
        final Method of;
        final Method downcall;
        final Method find;
        final int errnoOffset;
        final int captureSize;

        Binder() throws ReflectiveOperationException {
            Class<?> linkerClass = Class.forName("java.lang.foreign.Linker");
            optionClass = Class.forName("java.lang.foreign.Linker$Option");
            layoutClass = Class.forName("java.lang.foreign.MemoryLayout");
            segmentClass = Class.forName("java.lang.foreign.MemorySegment");
            Class<?> valueLayout = Class.forName("java.lang.foreign.ValueLayout");
            Class<?> descriptor = Class.forName("java.lang.foreign.FunctionDescriptor");
            Class<?> symbolLookup = Class.forName("java.lang.foreign.SymbolLookup");
            linker = linkerClass.getMethod("nativeLinker").invoke(null);
            lookup = linkerClass.getMethod("defaultLookup").invoke(linker);
            find = symbolLookup.getMethod("find", String.class);
            intLayout = valueLayout.getField("JAVA_INT").get(null);
            longLayout = valueLayout.getField("JAVA_LONG").get(null);
            of = descriptor.getMethod("of", layoutClass, layoutClass.arrayType());
            downcall = linkerClass.getMethod("downcallHandle", segmentClass, descriptor, optionClass.arrayType());
            capture = optionClass.getMethod("captureCallState", String[].class).invoke(null,
                    (Object) new String[] {"errno"});
            // critical: no thread-state transition around a call that cannot block (non-blocking sockets)
            critical = optionClass.getMethod("critical", boolean.class).invoke(null, false);
            Object stateLayout = optionClass.getMethod("captureStateLayout").invoke(null);
            captureSize = (int) (long) layoutClass.getMethod("byteSize").invoke(stateLayout);
            Class<?> pathElement = Class.forName("java.lang.foreign.MemoryLayout$PathElement");
            Object errnoPath = pathElement.getMethod("groupElement", String.class).invoke(null, "errno");
            Object path = Array.newInstance(pathElement, 1);
            Array.set(path, 0, errnoPath);
            errnoOffset = (int) (long) layoutClass.getMethod("byteOffset", pathElement.arrayType())
                    .invoke(stateLayout, path);
        }

        /** A handle without errno capture, for calls from any thread whose failure needs no reason. */
        MethodHandle bindPlain(String name, char ret, char... args) throws ReflectiveOperationException {
            return link(name, ret, args, critical);
        }

        /**
         * A handle for {@code name} with signature {@code ret(args...)} ('I' int, 'J' long, also for pointers),
         * capturing errno; its first parameter, the capture cell (a MemorySegment), is typed Object so that
         * {@link Calls} — compiled for Java 17 — can pass it.
         */
        MethodHandle bind(String name, boolean nonBlocking, char ret, char... args) throws ReflectiveOperationException {
            MethodHandle h = nonBlocking ? link(name, ret, args, capture, critical) : link(name, ret, args, capture);
            return h.asType(h.type().changeParameterType(0, Object.class));
        }

        private MethodHandle link(String name, char ret, char[] args, Object... linkerOptions)
                throws ReflectiveOperationException {
            Optional<?> symbol = (Optional<?>) find.invoke(lookup, name);
            if (symbol.isEmpty()) {
                throw new UnsupportedOperationException("no symbol " + name);
            }
            Object argLayouts = Array.newInstance(layoutClass, args.length);
            for (int i = 0; i < args.length; i++) {
                Array.set(argLayouts, i, args[i] == 'I' ? intLayout : longLayout);
            }
            Object fd = of.invoke(null, ret == 'I' ? intLayout : longLayout, argLayouts);
            Object options = Array.newInstance(optionClass, linkerOptions.length);
            for (int i = 0; i < linkerOptions.length; i++) {
                Array.set(options, i, linkerOptions[i]);
            }
            return (MethodHandle) downcall.invoke(linker, symbol.get(), fd, options);
        }
    }
}
