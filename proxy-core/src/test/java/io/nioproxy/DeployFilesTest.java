package io.nioproxy;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The deployment files a tool here can check are checked: the systemd unit by {@code systemd-analyze verify}. */
class DeployFilesTest {
    @Test
    void theSystemdUnitVerifiesCleanly() throws Exception {
        if (!new File("/usr/bin/systemd-analyze").canExecute()) {
            if (System.getenv("CI") != null) {
                throw new AssertionError("systemd-analyze is required in CI (.ci/run installs systemd)");
            }
            Assumptions.abort("no systemd-analyze here");
        }
        Path unit = Path.of("..", "docs", "deploy", "nioproxy.service");
        assertTrue(Files.isRegularFile(unit), unit + " exists");
        Process p = new ProcessBuilder("systemd-analyze", "verify", unit.toAbsolutePath().toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        // verify exits 0 on values it ignores, but says so: any line is a defect in the unit
        assertEquals(0, p.exitValue(), out);
        assertEquals("", out.strip(), "systemd-analyze verify had something to say");
        String text = Files.readString(unit);
        assertTrue(text.contains("--check") && text.contains("LimitNOFILE=") && text.contains("TimeoutStopSec="), text);
        // a reload is a take-over: the successor names itself the main process (sd_notify), so systemd must listen
        assertTrue(text.contains("Type=notify") && text.contains("NotifyAccess=all")
                && text.contains("ExecReload=/bin/kill -HUP $MAINPID")
                && text.contains("-Dproxy.takeover.socket=/run/nioproxy/") && text.contains("RuntimeDirectory=nioproxy")
                // a successor is not systemd's child: stop must wait for its paced shutdown itself
                && text.contains("ExecStop=/bin/sh -c 'kill -TERM $MAINPID"),
                text);
    }
}
