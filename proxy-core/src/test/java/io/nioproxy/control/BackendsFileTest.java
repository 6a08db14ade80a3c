package io.nioproxy.control;

import io.nioproxy.config.BackendSpec;
import io.nioproxy.config.ConfigException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendsFileTest {
    static final Path F = Path.of("/etc/nioproxy/backends");

    @Test
    void parsesLinesCommentsWeightsAndCrlf() {
        List<BackendSpec> b = BackendsFile.parse(F, "# fleet\r\n10.0.0.1:80\r\n\r\n  10.0.0.2:80@3   # heavier\n[::1]:81\n");
        assertEquals(3, b.size());
        assertEquals("10.0.0.1:80", b.get(0).identity());
        assertEquals(3, b.get(1).weight());
        assertEquals("::1", b.get(2).address().host());
    }

    @Test
    void oneBadLineRejectsTheWholeFileNamingTheLine() {
        String m = assertThrows(ConfigException.class, () -> BackendsFile.parse(F, "10.0.0.1:80\n10.0.0.2\n")).getMessage();
        assertTrue(m.startsWith("/etc/nioproxy/backends line 2=10.0.0.2: expected HOST:PORT"), m);
        m = assertThrows(ConfigException.class, () -> BackendsFile.parse(F, "10.0.0.1:80\n10.0.0.1:80\n")).getMessage();
        assertTrue(m.contains("line 2") && m.contains("twice"), m);
        m = assertThrows(ConfigException.class, () -> BackendsFile.parse(F, "# nothing\n\n")).getMessage();
        assertTrue(m.contains("no backends"), m);
        m = assertThrows(ConfigException.class, () -> BackendsFile.parse(F, "10.0.0.1:80@999\n")).getMessage();
        assertTrue(m.contains("weight"), m);
    }
}
