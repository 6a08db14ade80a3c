package io.nioproxy.config;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The key reference in {@code docs/configuration.md} and {@link Settings#KEYS} name the same keys: a key added
 * without its documentation, or documentation of a key that does not exist, fails here.
 */
class ConfigurationDocsTest {
    private static final Path DOC = Path.of("..", "docs", "configuration.md");

    /** The keys named in the first column of the "## Keys" table. */
    private static Set<String> documentedKeys() throws Exception {
        String doc = Files.readString(DOC);
        int at = doc.indexOf("## Keys");
        assertTrue(at >= 0, DOC + " has a '## Keys' section");
        Set<String> keys = new TreeSet<>();
        Pattern key = Pattern.compile("`proxy\\.([a-z0-9.]+)`");
        for (String line : doc.substring(at).split("\n")) {
            if (!line.startsWith("| `proxy.")) {
                continue;
            }
            Matcher m = key.matcher(line.split("\\|")[1]);
            while (m.find()) {
                keys.add(m.group(1));
            }
        }
        return keys;
    }

    @Test
    void everyKeyIsDocumentedAndEveryDocumentedKeyExists() throws Exception {
        Set<String> known = new TreeSet<>();
        for (Settings.Key<?> k : Settings.KEYS) {
            known.add(k.name());
        }
        Set<String> documented = documentedKeys();
        Set<String> undocumented = new TreeSet<>(known);
        undocumented.removeAll(documented);
        Set<String> unknown = new TreeSet<>(documented);
        unknown.removeAll(known);
        assertEquals(Set.of(), undocumented, "keys missing from " + DOC);
        assertEquals(Set.of(), unknown, "keys in " + DOC + " that nioproxy does not know");
    }

    @Test
    void theStartUpLineShowsEveryKey() {
        ProxyConfig c = Settings.from(io.nioproxy.testing.Props.of("proxy.backends", "127.0.0.1:1")).build();
        String line = Settings.describe(c);
        for (Settings.Key<?> k : Settings.KEYS) {
            assertTrue(line.contains(" " + k.name() + "=") || line.startsWith(k.name() + "="),
                    "the start-up line shows " + k.name() + ": " + line);
        }
    }
}
