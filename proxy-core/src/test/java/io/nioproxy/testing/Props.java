package io.nioproxy.testing;

import io.nioproxy.config.ListenerConfig;
import io.nioproxy.config.Settings;

import java.util.Properties;

/** proxy.* settings for tests, given as key, value, key, value... Stateless. */
public final class Props {
    private Props() {
    }

    public static Properties of(String... kv) {
        Properties p = new Properties();
        for (int i = 0; i < kv.length; i += 2) {
            p.setProperty(kv[i], kv[i + 1]);
        }
        return p;
    }

    /** The single listener's configuration for {@code kv}, with a placeholder backend unless one is given. */
    public static ListenerConfig listener(String... kv) {
        Properties p = of(kv);
        p.putIfAbsent("proxy.backends", "127.0.0.1:1");
        return Settings.from(p).build().listeners().get(0);
    }
}
