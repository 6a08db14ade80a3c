package io.nioproxy.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/** Opens connections one after another to a port on 127.0.0.1, each checked with an echoed line, until closed. */
public final class ConnectingClient implements AutoCloseable {
    public final AtomicLong ok = new AtomicLong();
    public final AtomicLong failed = new AtomicLong();
    public final AtomicReference<String> lastError = new AtomicReference<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    public ConnectingClient(int port) {
        thread = new Thread(() -> {
            byte[] line = "ping\n".getBytes(StandardCharsets.US_ASCII);
            while (running.get()) {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                    s.setSoTimeout(5000);
                    OutputStream out = s.getOutputStream();
                    out.write(line);
                    InputStream in = s.getInputStream();
                    byte[] got = in.readNBytes(line.length);
                    if (got.length != line.length) {
                        throw new IOException("echo cut after " + got.length + " bytes");
                    }
                    ok.incrementAndGet();
                } catch (IOException e) {
                    failed.incrementAndGet();
                    lastError.set(e.toString());
                }
            }
        }, "connecting-client");
        thread.start();
    }

    @Override
    public void close() throws InterruptedException {
        running.set(false);
        thread.join(10_000);
    }
}
