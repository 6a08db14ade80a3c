package io.nioproxy.log;

import org.jctools.queues.atomic.MpscAtomicArrayQueue;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * One line per session when it ends — and, for long sessions, an interim line at a set interval — in logfmt
 * ({@code key=value}, space-separated; documented in docs/operations.md):
 *
 * <pre>
 * 2026-11-25T14:30:00.123Z event=end listener=ws client=192.0.2.7:51234 backend=10.0.0.12:8080 bytes_up=1834
 *   bytes_down=90211 duration_ms=61003 end=client_closed
 * </pre>
 *
 * <p>Threading: loops call {@link #offer} — one allocation of an immutable {@link Entry} per session end and one
 * offer to a bounded JCTools MPSC queue; they never format, never write, never block. A single writer thread
 * formats and writes, flushing when the queue runs dry. A full queue drops the line and counts it
 * ({@link #dropped()}): a slow disk never slows the relay.
 */
public final class AccessLog implements AutoCloseable {
    public static final int QUEUE_CAPACITY = 1 << 16;

    /** One line's data. Immutable. */
    public record Entry(long timeMillis, boolean interim, String listener, String pool, String serverName,
                        String client, String backend, long bytesUp, long bytesDown, long durationMillis, String end) {
        /** An entry of a session that was not routed by server name. */
        public Entry(long timeMillis, boolean interim, String listener, String client, String backend, long bytesUp,
                     long bytesDown, long durationMillis, String end) {
            this(timeMillis, interim, listener, null, null, client, backend, bytesUp, bytesDown, durationMillis, end);
        }
    }

    private final MpscAtomicArrayQueue<Entry> queue = new MpscAtomicArrayQueue<>(QUEUE_CAPACITY);
    private final Writer out;
    private final boolean closeOut;
    private final Thread writer;
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private volatile boolean running = true;

    AccessLog(Writer out, boolean closeOut) {
        this.out = out;
        this.closeOut = closeOut;
        this.writer = new Thread(this::drainLoop, "nioproxy-access-log");
        this.writer.setDaemon(true);
        this.writer.start();
    }

    /** @param target {@code stdout}, {@code stderr} or a file path (appended to) */
    public static AccessLog open(String target) throws IOException {
        return switch (target) {
            case "stdout" -> new AccessLog(new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8)), false);
            case "stderr" -> new AccessLog(new BufferedWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8)), false);
            default -> new AccessLog(Files.newBufferedWriter(Path.of(target), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE), true);
        };
    }

    /** Any thread (loops): queue a line; false (and counted) when the queue is full. */
    public boolean offer(Entry e) {
        if (queue.offer(e)) {
            return true;
        }
        dropped.incrementAndGet();
        return false;
    }

    /** Lines dropped because the writer could not keep up. */
    public long dropped() {
        return dropped.get();
    }

    /** Lines written. */
    public long written() {
        return written.get();
    }

    private void drainLoop() {
        StringBuilder sb = new StringBuilder(256);
        while (running || !queue.isEmpty()) {
            Entry e = queue.poll();
            if (e == null) {
                try {
                    out.flush();
                } catch (IOException ex) {
                    // a failing log target must not stop the balancer; lines are counted as written regardless
                }
                LockSupport.parkNanos(2_000_000);
                continue;
            }
            sb.setLength(0);
            format(e, sb);
            try {
                out.write(sb.toString());
                written.incrementAndGet();
            } catch (IOException ex) {
                dropped.incrementAndGet();
            }
        }
        try {
            out.flush();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    static void format(Entry e, StringBuilder sb) {
        sb.append(Instant.ofEpochMilli(e.timeMillis()))
                .append(" event=").append(e.interim() ? "interim" : "end")
                .append(" listener=").append(e.listener());
        if (e.pool() != null) {
            // routed by server name: which name the hello asked for (- for none), and the pool it chose
            sb.append(" sni=").append(e.serverName() == null ? "-" : e.serverName()).append(" pool=").append(e.pool());
        }
        sb.append(" client=").append(e.client())
                .append(" backend=").append(e.backend() == null ? "-" : e.backend())
                .append(" bytes_up=").append(e.bytesUp())
                .append(" bytes_down=").append(e.bytesDown())
                .append(" duration_ms=").append(e.durationMillis());
        if (!e.interim()) {
            sb.append(" end=").append(e.end());
        }
        sb.append('\n');
    }

    /** Writes what is queued, then stops the writer. */
    @Override
    public void close() {
        running = false;
        try {
            writer.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (closeOut) {
            try {
                out.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }
}
