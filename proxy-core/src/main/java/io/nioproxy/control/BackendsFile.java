package io.nioproxy.control;

import io.nioproxy.config.BackendSpec;
import io.nioproxy.config.ConfigException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The backends file ({@code proxy.backends.file}): one {@code HOST:PORT[@WEIGHT]} per line, {@code #} starts a
 * comment, blank lines ignored. Parsing is all-or-nothing: one bad line rejects the whole file, naming the line, so
 * that a half-written or mistyped file never replaces a good backend set.
 *
 * <p>Stateless; control threads and start-up.
 */
public final class BackendsFile {
    private BackendsFile() {
    }

    /** @throws ConfigException naming the file, the line number and what is wrong */
    public static List<BackendSpec> parse(Path file, String text) {
        List<BackendSpec> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash);
            }
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            String where = file + " line " + (i + 1);
            BackendSpec spec = BackendSpec.parse(where, line);
            if (!seen.add(spec.identity())) {
                throw ConfigException.bad(where, line, "backend listed twice");
            }
            out.add(spec);
        }
        if (out.isEmpty()) {
            throw new ConfigException(file + ": no backends in the file (one HOST:PORT[@WEIGHT] per line)");
        }
        return out;
    }

    public static List<BackendSpec> read(Path file) {
        try {
            return parse(file, Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read the backends file: " + e.getMessage());
        }
    }
}
