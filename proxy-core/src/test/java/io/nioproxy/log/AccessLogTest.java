package io.nioproxy.log;

import io.nioproxy.Proxy;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.Writer;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.nioproxy.testing.ProxyHarness.await;
import static io.nioproxy.testing.ProxyHarness.connect;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AccessLogTest {
    static final Pattern LINE = Pattern.compile("^\\d{4}-\\d\\d-\\d\\dT\\S+Z event=(end|interim) listener=(\\S+) "
            + "client=(\\S+) backend=(\\S+) bytes_up=(\\d+) bytes_down=(\\d+) duration_ms=(\\d+)( end=(\\S+))?$");

    @Test
    void oneLinePerSessionWithBytesAndHowItEndedAndInterimLinesForLongOnes(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("access.log");
        TcpServer echo = TcpServer.echo();
        try (ProxyHarness h = new ProxyHarness()) {
            h.add(echo);
            Proxy p = h.start("proxy.backends", echo.address(), "proxy.access.log", file.toString(),
                    "proxy.access.log.interim", "200ms");
            for (int i = 0; i < 5; i++) {
                try (Socket s = connect(p, "127.0.0.3" + i)) {
                    s.getOutputStream().write(new byte[100 + i]);
                    s.shutdownOutput();
                    assertEquals(100 + i, s.getInputStream().readAllBytes().length);
                }
            }
            try (Socket s = connect(p, "127.0.0.40")) {
                s.getOutputStream().write(new byte[7]);
                s.getInputStream().readNBytes(7);
                Thread.sleep(750); // long enough for interim lines
                s.setSoLinger(true, 0);
            } // closed with a reset
            await("six end lines", Duration.ofSeconds(5), () -> {
                try {
                    return Files.exists(file) && Files.readAllLines(file).stream().filter(l -> l.contains("event=end")).count() == 6;
                } catch (IOException e) {
                    return false;
                }
            });
        }
        List<String> lines = Files.readAllLines(file);
        int ends = 0;
        int interims = 0;
        for (String line : lines) {
            Matcher m = LINE.matcher(line);
            assertTrue(m.matches(), "documented format: " + line);
            assertEquals("default", m.group(2));
            assertEquals(echo.address(), m.group(4));
            if (m.group(1).equals("end")) {
                ends++;
                if (m.group(3).startsWith("127.0.0.40:")) {
                    assertEquals("7", m.group(5));
                    assertEquals("client_reset", m.group(9));
                    assertTrue(Long.parseLong(m.group(7)) >= 700, line);
                } else {
                    int i = Integer.parseInt(m.group(3).substring("127.0.0.3".length(), "127.0.0.3".length() + 1));
                    assertEquals(String.valueOf(100 + i), m.group(5), line);
                    assertEquals(String.valueOf(100 + i), m.group(6), line);
                    assertEquals("client_closed", m.group(9), line);
                }
            } else {
                interims++;
                assertTrue(m.group(3).startsWith("127.0.0.40:"), "only the long session gets interim lines: " + line);
                assertEquals(null, m.group(8));
            }
        }
        assertEquals(6, ends);
        assertTrue(interims >= 2 && interims <= 5, "interim lines every 200 ms of a 750 ms session: " + interims);
    }

    @Test
    void aWriterThatFallsBehindDropsAndCountsInsteadOfBlockingTheLoop() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Writer stuck = new Writer() {
            @Override
            public void write(char[] cbuf, int off, int len) throws IOException {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        AccessLog log = new AccessLog(stuck, false);
        int offered = AccessLog.QUEUE_CAPACITY + 5000;
        long start = System.nanoTime();
        int accepted = 0;
        for (int i = 0; i < offered; i++) {
            if (log.offer(new AccessLog.Entry(0, false, "l", "c", "b", 1, 1, 1, "client_closed"))) {
                accepted++;
            }
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms < 2000, "offers never block: " + ms + " ms");
        assertEquals(offered - accepted, log.dropped());
        assertTrue(log.dropped() >= 4000, "dropped: " + log.dropped());
        release.countDown();
        log.close();
    }
}
