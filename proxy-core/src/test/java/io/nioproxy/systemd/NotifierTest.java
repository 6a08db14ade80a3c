package io.nioproxy.systemd;

import io.nioproxy.sys.Linux;
import io.nioproxy.testing.FakeServiceManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code sd_notify} as systemd receives it: one datagram per call, byte-exact, to a path or to an abstract name
 * ({@code @...}); nothing at all without a socket; and, where the raw calls are missing (JDK 17–21), a message that
 * says what to do instead of a start-up that hangs unseen.
 */
class NotifierTest {
    @Test
    void noServiceManagerNoMessage() {
        assertNull(Notifier.send(null, "READY=1"));
        assertNull(Notifier.send("", "READY=1"));
    }

    @Test
    void eachStateArrivesWholeAsOneDatagram(@TempDir Path dir) throws Exception {
        if (!Linux.AVAILABLE) {
            String said = Notifier.send(dir.resolve("notify.sock").toString(), "READY=1");
            assertTrue(said.startsWith("cannot tell the service manager READY=1") && said.contains("JDK 22+")
                    && said.contains("Type=simple"), said);
            return;
        }
        try (FakeServiceManager manager = new FakeServiceManager(dir.resolve("notify.sock"))) {
            assertEquals("told the service manager READY=1", Notifier.send(manager.socket(), "READY=1"));
            assertEquals("told the service manager MAINPID=42 READY=1",
                    Notifier.send(manager.socket(), "MAINPID=42\nREADY=1"));
            assertEquals("READY=1", manager.receive(5000));
            assertEquals("MAINPID=42\nREADY=1", manager.receive(5000));
            assertNull(manager.receive(100), "one datagram per call");
        }
        String gone = Notifier.send(dir.resolve("nobody.sock").toString(), "READY=1");
        assertTrue(gone.startsWith("cannot tell the service manager READY=1 at ") && gone.contains("No such file"), gone);
    }

    @Test
    void anAbstractNameAsSystemdWritesIt() throws Exception {
        if (!Linux.AVAILABLE) {
            return; // the same refusal as above
        }
        String name = "@nioproxy-notify-test-" + ProcessHandle.current().pid();
        try (FakeServiceManager manager = new FakeServiceManager(name)) {
            assertEquals("told the service manager STOPPING=1", Notifier.send(name, "STOPPING=1"));
            assertEquals("STOPPING=1", manager.receive(5000));
        }
    }
}
