package io.nioproxy.loop;

import io.nioproxy.Proxy;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.Settings;
import io.nioproxy.testing.Props;
import io.nioproxy.testing.ProxyHarness;
import io.nioproxy.testing.TcpServer;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.Socket;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code proxy.loop.spin}: polls without blocking after a busy poll, relays the same bytes, and goes back to sleep
 * when traffic stops (a spin that never ends would be a busy loop burning a core on an idle balancer).
 */
class LoopSpinTest {
    @Test
    void spinningLoopRelaysByteExactAndSleepsWhenIdle() throws Exception {
        try (ProxyHarness h = new ProxyHarness(); TcpServer echo = h.add(TcpServer.echo())) {
            Proxy proxy = h.start(Settings.BACKENDS.property(), echo.address(), Settings.WORKERS.property(), "1",
                    Settings.LOOP_SPIN.property(), "1000");
            byte[] sent = new byte[256 * 1024];
            new Random(7).nextBytes(sent);
            byte[] got = new byte[sent.length];
            try (Socket s = ProxyHarness.connect(proxy, null)) {
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                for (int i = 0; i < sent.length; i += 1024) { // many small round trips: the loop spins between them
                    out.write(sent, i, 1024);
                    assertEquals(1024, in.readNBytes(got, i, 1024), "closed after " + i + " bytes");
                }
                assertArrayEquals(sent, got);

                // traffic stopped, connection still open: after at most 1,000 empty polls the loop must block
                ThreadMXBean threads = ManagementFactory.getThreadMXBean();
                long loopThread = proxy.loops()[0].threadId();
                Thread.sleep(200);
                long before = threads.getThreadCpuTime(loopThread);
                Thread.sleep(1000);
                long spent = threads.getThreadCpuTime(loopThread) - before;
                assertTrue(spent < 100_000_000L, "an idle spinning loop used " + spent / 1_000_000 + " ms of CPU in 1 s");
            }
        }
    }

    @Test
    void badSpinValueIsAClearStartUpError() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> Settings.from(Props.of("proxy.backends", "127.0.0.1:9", "proxy.loop.spin", "-1")).build());
        assertTrue(e.getMessage().contains("proxy.loop.spin"), e.getMessage());
        assertEquals(0, Settings.from(Props.of("proxy.backends", "127.0.0.1:9")).build().loopSpinPolls());
    }
}
