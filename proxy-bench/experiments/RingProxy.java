/*
 * An experiment, not part of the balancer (Maven does not build it): an L4 relay driven by io_uring alone, written
 * to answer one question on this machine — does completion-based I/O cost less CPU per relayed message than the
 * balancer's readiness-based relay (epoll + read/write, 4 system calls per request)? It has none of the product's
 * features (no metrics, affinity, health checks, timeouts; backends taken round robin) and minimal error handling.
 *
 * One thread, one ring (SINGLE_ISSUER | DEFER_TASKRUN: completions are processed inside our own io_uring_enter),
 * multishot accept on the three yardstick listeners, IORING_OP_CONNECT to the backend, then per direction either
 *   - a single-shot RECV into the session's own 16 KiB buffer, SEND of what came, RECV again (default), with
 *     -Dpf=true the re-armed RECV skips its first try (IORING_RECVSEND_POLL_FIRST: the socket was just drained), or
 *   - -Dms=true: one multishot RECV per socket drawing from a registered buffer ring (IORING_REGISTER_PBUF_RING,
 *     8192 x 16 KiB), a per-direction queue of filled buffers while a SEND is in flight, each buffer returned to the
 *     ring once sent: the form io_uring's authors recommend for network servers.
 * Every SQE of a turn goes to the kernel in the one io_uring_enter that also waits.
 *
 * Run (JDK 22+), with the yardstick's backends started:
 *   javac -d /tmp/ring proxy-bench/experiments/RingProxy.java
 *   OURS_CMD="exec java -Dms=true --enable-native-access=ALL-UNNAMED -cp /tmp/ring RingProxy" \
 *     LOAD=rr bash proxy-bench/scripts/conn-events.sh ours
 * Results: docs/bench/2026-11-26/io-uring.txt and docs/benchmarks.md ("io_uring, measured").
 */
import java.lang.foreign.*;
import java.lang.invoke.*;
import java.util.*;

public class RingProxy {
    static final Linker L = Linker.nativeLinker();
    static final SymbolLookup C = L.defaultLookup();
    static MethodHandle h(String n, FunctionDescriptor d, Linker.Option... o) { return L.downcallHandle(C.find(n).orElseThrow(), d, o); }
    static final ValueLayout.OfInt I = ValueLayout.JAVA_INT; static final ValueLayout.OfLong J = ValueLayout.JAVA_LONG;
    static final MethodHandle SYSCALL6 = h("syscall", FunctionDescriptor.of(J, J, J, J, J, J, J, J), Linker.Option.firstVariadicArg(1));
    static final MethodHandle SOCKET = h("socket", FunctionDescriptor.of(I, I, I, I));
    static final MethodHandle SETSOCKOPT = h("setsockopt", FunctionDescriptor.of(I, I, I, I, J, I));
    static final MethodHandle BIND = h("bind", FunctionDescriptor.of(I, I, J, I));
    static final MethodHandle LISTEN = h("listen", FunctionDescriptor.of(I, I, I));
    static final MethodHandle SHUTDOWN = h("shutdown", FunctionDescriptor.of(I, I, I));
    static final MethodHandle CLOSE = h("close", FunctionDescriptor.of(I, I));
    static final MethodHandle MMAP = h("mmap", FunctionDescriptor.of(J, J, J, I, I, I, J));
    static final VarHandle INT = I.varHandle();
    static final Arena A = Arena.global();

    static MemorySegment sq, cq, sqes; static int sqMask, cqMask, ringFd; static long sqHeadOff, sqTailOff, cqHeadOff, cqTailOff, cqesOff;
    static int sqTail, toSubmit;

    static long sys(long n, long a, long b, long c, long d, long e, long f) throws Throwable { return (long) SYSCALL6.invokeExact(n, a, b, c, d, e, f); }

    static MemorySegment sockaddr(String hp) {
        String[] p = hp.split(":"); MemorySegment s = A.allocate(16);
        s.set(ValueLayout.JAVA_SHORT, 0, (short) 2);
        int port = Integer.parseInt(p[1]); s.set(ValueLayout.JAVA_BYTE, 2, (byte) (port >> 8)); s.set(ValueLayout.JAVA_BYTE, 3, (byte) port);
        String[] o = p[0].split("\\."); for (int i = 0; i < 4; i++) s.set(ValueLayout.JAVA_BYTE, 4 + i, (byte) Integer.parseInt(o[i]));
        return s;
    }

    static MemorySegment sqe() throws Throwable {
        int head = (int) INT.getAcquire(sq, sqHeadOff);
        if (sqTail - head >= sqMask + 1) { submit(0); }
        MemorySegment e = sqes.asSlice((long) (sqTail & sqMask) * 64, 64);
        e.fill((byte) 0);
        sqTail++; toSubmit++;
        return e;
    }
    static void submit(int wait) throws Throwable {
        INT.setRelease(sq, sqTailOff, sqTail);
        long r = sys(426, ringFd, toSubmit, wait, wait > 0 ? 1 : 0, 0, 0);
        if (r < 0 && r != -4) throw new IllegalStateException("enter " + r);
        toSubmit = 0;
    }
    static void prep(MemorySegment e, int op, int fd, long addr, int len, long off, long ud) {
        e.set(ValueLayout.JAVA_BYTE, 0, (byte) op); e.set(I, 4, fd); e.set(J, 8, off); e.set(J, 16, addr); e.set(I, 24, len); e.set(J, 32, ud);
    }

    // ops in user_data low byte
    static final int ACCEPT = 1, CONNECT = 2, RECV = 3, SEND = 4;
    static final int BUF = 16384, MAXS = 20000;
    static int[] fd0 = new int[MAXS], fd1 = new int[MAXS], pending = new int[MAXS], sent = new int[2 * MAXS], state = new int[MAXS];
    static MemorySegment bufs; static ArrayDeque<Integer> free = new ArrayDeque<>();
    static final boolean MS = Boolean.getBoolean("ms"); static final int NB = 8192, Q = 64;
    static MemorySegment bring; static int brTail; static MemorySegment pbufs;
    static int[] nextB = new int[NB], lenB = new int[NB], qHead = new int[2 * MAXS], qTail = new int[2 * MAXS], qN = new int[2 * MAXS];
    static int[] curBid = new int[2 * MAXS]; static boolean[] sending = new boolean[2 * MAXS], eofPend = new boolean[2 * MAXS], rearm = new boolean[2 * MAXS];
    static void recycle(int bid) {
        long e = (long) (brTail & (NB - 1)) * 16; brring(e, bid); brTail++; SHORT.setRelease(bring, 14L, (short) brTail);
    }
    static void brring(long e, int bid) { bring.set(J, e, pbufs.address() + (long) bid * BUF); bring.set(I, e + 8, BUF); bring.set(ValueLayout.JAVA_SHORT, e + 12, (short) bid); }
    static final VarHandle SHORT = ValueLayout.JAVA_SHORT.varHandle();
    static void recvMs(int s, int dir) throws Throwable {
        MemorySegment e = sqe(); prep(e, 27, fd(s, dir), 0, 0, 0, ud(s, dir, RECV)); e.set(ValueLayout.JAVA_SHORT, 2, (short) 2); e.set(ValueLayout.JAVA_BYTE, 1, (byte) (1 << 5)); pending[s]++;
    }
    static void sendBuf(int s, int dir, int bid, int off, int len) throws Throwable {
        int k = 2 * s + dir; curBid[k] = bid; sending[k] = true; sent[k] = off; lens[k] = len;
        MemorySegment e = sqe(); prep(e, 26, fd(s, 1 - dir), pbufs.address() + (long) bid * BUF + off, len - off, 0, ud(s, dir, SEND)); e.set(I, 28, 0x4000); pending[s]++;
    }
    static void dropBufs(int s) {
        for (int dir = 0; dir < 2; dir++) { int k = 2 * s + dir;
            if (sending[k]) { recycle(curBid[k]); sending[k] = false; }
            while (qN[k] > 0) { int b = qHead[k]; qHead[k] = nextB[b]; qN[k]--; recycle(b); }
            eofPend[k] = false; rearm[k] = false; }
    }
    static void handleMs(int op, int s, int dir, int res, int flags) throws Throwable {
        int k = 2 * s + dir;
        if (op == RECV) {
            if ((flags & 2) == 0) pending[s]--;
            if ((state[s] & 8) != 0) { if ((flags & 1) != 0) recycle(flags >>> 16); maybeClose(s); return; }
            if (res > 0) {
                int bid = flags >>> 16;
                if (sending[k]) { lenB[bid] = res; if (qN[k] == 0) qHead[k] = bid; else nextB[qTail[k]] = bid; qTail[k] = bid; qN[k]++; }
                else sendBuf(s, dir, bid, 0, res);
                if ((flags & 2) == 0) { if (sending[k]) rearm[k] = true; else recvMs(s, dir); }
            } else if (res == 0) {
                if (sending[k]) eofPend[k] = true; else { state[s] |= 1 << dir; int r = (int) SHUTDOWN.invokeExact(fd(s, 1 - dir), 1); maybeClose(s); }
            } else if (res == -105) { if (sending[k]) rearm[k] = true; else recvMs(s, dir); }
            else abort(s);
        } else { // SEND
            pending[s]--;
            if ((state[s] & 8) != 0) { maybeClose(s); return; }
            if (res < 0) { abort(s); return; }
            int done = sent[k] + res;
            if (done < lens[k]) { sendBuf(s, dir, curBid[k], done, lens[k]); return; }
            sending[k] = false; recycle(curBid[k]);
            if (qN[k] > 0) { int b = qHead[k]; qHead[k] = nextB[b]; qN[k]--; sendBuf(s, dir, b, 0, lenB[b]); return; }
            if (rearm[k]) { rearm[k] = false; recvMs(s, dir); }
            if (eofPend[k]) { eofPend[k] = false; state[s] |= 1 << dir; int r = (int) SHUTDOWN.invokeExact(fd(s, 1 - dir), 1); maybeClose(s); }
        }
    }
    static MemorySegment one; static final boolean POLL_FIRST = Boolean.getBoolean("pf");
    static MemorySegment[][] pools = new MemorySegment[3][]; static int rr;

    static long ud(int s, int dir, int op) { return ((long) s << 16) | (dir << 8) | op; }
    static long buf(int s, int dir) { return bufs.address() + ((long) (2 * s + dir)) * BUF; }
    static int fd(int s, int side) { return side == 0 ? fd0[s] : fd1[s]; }

    static void recv(int s, int dir) throws Throwable { // dir 0: client->backend (read fd0), dir 1: backend->client (read fd1)
        MemorySegment e = sqe(); prep(e, 27, fd(s, dir), buf(s, dir), BUF, 0, ud(s, dir, RECV)); if (POLL_FIRST) e.set(ValueLayout.JAVA_SHORT, 2, (short) 1); pending[s]++;
    }
    static void send(int s, int dir, int off, int len) throws Throwable {
        MemorySegment e = sqe(); prep(e, 26, fd(s, 1 - dir), buf(s, dir) + off, len, 0, ud(s, dir, SEND)); e.set(I, 28, 0x4000); pending[s]++;
    }
    static void abort(int s) throws Throwable {
        if ((state[s] & 8) == 0) { state[s] |= 8; int r = (int) SHUTDOWN.invokeExact(fd0[s], 2); r = (int) SHUTDOWN.invokeExact(fd1[s], 2); }
        maybeClose(s);
    }
    static void maybeClose(int s) throws Throwable {
        if (pending[s] == 0 && ((state[s] & 8) != 0 || (state[s] & 3) == 3)) {
            if (MS) dropBufs(s); int r = (int) CLOSE.invokeExact(fd0[s]); r = (int) CLOSE.invokeExact(fd1[s]); free.push(s);
        }
    }

    public static void main(String[] a) throws Throwable {
        int base = Integer.parseInt(System.getenv("LB_BASE"));
        String[] envs = {"LB_HTTP", "LB_WS", "LB_BULK"};
        for (int i = 0; i < 3; i++) { String[] b = System.getenv(envs[i]).trim().split(" "); pools[i] = new MemorySegment[b.length]; for (int k = 0; k < b.length; k++) pools[i][k] = sockaddr(b[k]); }
        bufs = A.allocate((long) 2 * MAXS * BUF, 4096);
        for (int s = MAXS - 1; s >= 0; s--) free.push(s);
        one = A.allocate(4); one.set(I, 0, 1);
        MemorySegment p = A.allocate(120);
        p.set(I, 8, (1 << 12) | (1 << 13) | (1 << 7)); // SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL
        p.set(I, 4, 32768); p.set(I, 8, p.get(I, 8) | (1 << 4)); // CQSIZE
        ringFd = (int) sys(425, 4096, p.address(), 0, 0, 0, 0);
        if (ringFd < 0) throw new IllegalStateException("setup " + ringFd);
        int sqEntries = p.get(I, 0), cqEntries = p.get(I, 4);
        long sqRingSize = p.get(I, 40 + 24) + (long) sqEntries * 4, cqRingSize = p.get(I, 80 + 20) + (long) cqEntries * 16;
        long ringSize = Math.max(sqRingSize, cqRingSize);
        long ringAddr = (long) MMAP.invokeExact(0L, ringSize, 3, 0x1 | 0x8000, ringFd, 0L); // MAP_SHARED|MAP_POPULATE
        sq = MemorySegment.ofAddress(ringAddr).reinterpret(ringSize); cq = sq;
        long sqesAddr = (long) MMAP.invokeExact(0L, (long) sqEntries * 64, 3, 0x1 | 0x8000, ringFd, 0x10000000L);
        sqes = MemorySegment.ofAddress(sqesAddr).reinterpret((long) sqEntries * 64);
        sqHeadOff = p.get(I, 40); sqTailOff = p.get(I, 44); sqMask = sq.get(I, p.get(I, 48)); long arr = p.get(I, 64);
        cqHeadOff = p.get(I, 80); cqTailOff = p.get(I, 84); cqMask = cq.get(I, p.get(I, 88)); cqesOff = p.get(I, 100);
        for (int i = 0; i < sqEntries; i++) sq.set(I, arr + 4L * i, i);
        sqTail = sq.get(I, sqTailOff);
        if (MS) {
            pbufs = A.allocate((long) NB * BUF, 4096); bring = A.allocate((long) NB * 16, 4096);
            MemorySegment reg = A.allocate(40); reg.set(J, 0, bring.address()); reg.set(I, 8, NB); reg.set(ValueLayout.JAVA_SHORT, 12, (short) 0);
            long r = sys(427, ringFd, 22, reg.address(), 1, 0, 0); if (r < 0) throw new IllegalStateException("pbuf " + r);
            for (int i = 0; i < NB; i++) recycle(i);
        }
        for (int i = 0; i < 3; i++) {
            int lfd = (int) SOCKET.invokeExact(2, 1 | 0x800 | 0x80000, 0);
            int r = (int) SETSOCKOPT.invokeExact(lfd, 1, 2, one.address(), 4);
            r = (int) BIND.invokeExact(lfd, sockaddr("127.0.0.1:" + (base + 1 + i)).address(), 16);
            r = (int) LISTEN.invokeExact(lfd, 4096);
            MemorySegment e = sqe(); prep(e, 13, lfd, 0, 0, 0, ud(i, 0, ACCEPT)); e.set(ValueLayout.JAVA_SHORT, 2, (short) 1); e.set(I, 28, 0x800 | 0x80000);
        }
        System.out.println("ring proxy up");
        while (true) {
            submit(1);
            int head = cq.get(I, cqHeadOff);
            int tail = (int) INT.getAcquire(cq, cqTailOff);
            while (head != tail) {
                long off = cqesOff + (long) (head & cqMask) * 16;
                long ud = cq.get(J, off); int res = cq.get(I, off + 8); int flags = cq.get(I, off + 12);
                head++;
                INT.setRelease(cq, cqHeadOff, head);
                handle(ud, res, flags);
                tail = (int) INT.getAcquire(cq, cqTailOff);
            }
        }
    }

    static void handle(long ud, int res, int flags) throws Throwable {
        int op = (int) (ud & 0xff), dir = (int) (ud >> 8) & 0xff, s = (int) (ud >>> 16);
        if (MS && (op == RECV || op == SEND)) { handleMs(op, s, dir, res, flags); return; }
        switch (op) {
            case ACCEPT -> {
                if ((flags & 2) == 0) { System.err.println("accept stopped " + res); System.exit(1); }
                if (res < 0) return;
                int ns = free.pop(); fd0[ns] = res; pending[ns] = 0; state[ns] = 0;
                int r = (int) SETSOCKOPT.invokeExact(res, 6, 1, one.address(), 4);
                int b = (int) SOCKET.invokeExact(2, 1 | 0x800 | 0x80000, 0); fd1[ns] = b;
                r = (int) SETSOCKOPT.invokeExact(b, 6, 1, one.address(), 4);
                MemorySegment[] pool = pools[s]; MemorySegment addr = pool[(rr++ & 0x7fffffff) % pool.length];
                prep(sqe(), 16, b, addr.address(), 0, 16, ud(ns, 0, CONNECT)); pending[ns]++;
            }
            case CONNECT -> { pending[s]--; if (res < 0) { abort(s); return; } if (MS) { recvMs(s, 0); recvMs(s, 1); } else { recv(s, 0); recv(s, 1); } }
            case RECV -> {
                pending[s]--;
                if ((state[s] & 8) != 0) { maybeClose(s); return; }
                if (res > 0) { sent[2 * s + dir] = 0; lens[2 * s + dir] = res; send(s, dir, 0, res); }
                else if (res == 0) { state[s] |= 1 << dir; int r = (int) SHUTDOWN.invokeExact(fd(s, 1 - dir), 1); maybeClose(s); }
                else abort(s);
            }
            case SEND -> {
                pending[s]--;
                if ((state[s] & 8) != 0) { maybeClose(s); return; }
                if (res < 0) { abort(s); return; }
                // we don't know requested len here; recompute: store it
                int want = lens[2 * s + dir]; int done = sent[2 * s + dir] + res;
                if (done < want) { sent[2 * s + dir] = done; MemorySegment e = sqe(); prep(e, 26, fd(s, 1 - dir), buf(s, dir) + done, want - done, 0, ud(s, dir, SEND)); e.set(I, 28, 0x4000); pending[s]++; }
                else recv(s, dir);
            }
        }
    }
    static int[] lens = new int[2 * MAXS];
}
