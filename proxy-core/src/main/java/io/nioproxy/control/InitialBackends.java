package io.nioproxy.control;

import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.config.BackendSpec;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.config.Settings;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;

/**
 * A listener's backends at start: from {@code proxy.backends} or the backends file, every host name resolved (each
 * address a backend), seeded into its registry before the listener binds. A file that cannot be read or a host that
 * does not resolve stops start-up with the key and value named.
 *
 * <p>Threading: the start-up thread.
 */
public final class InitialBackends {
    private InitialBackends() {
    }

    /** @return the specs read (the backend source watches for changes from these on) */
    public static List<BackendSpec> seed(ListenerConfig config, BackendRegistry registry) {
        String key = Settings.propertyOf(config.name(), Settings.BACKENDS);
        List<BackendSpec> specs = config.backends();
        if (config.backendsFile() != null) {
            key = Settings.propertyOf(config.name(), Settings.BACKENDS_FILE);
            try {
                specs = BackendsFile.read(Path.of(config.backendsFile()));
            } catch (ConfigException e) {
                throw ConfigException.bad(key, config.backendsFile(), e.getMessage());
            }
        }
        for (BackendSpec spec : specs) {
            for (InetSocketAddress a : Resolver.resolveAll(key, spec.address())) {
                registry.seed(a, spec.weight(), spec.toString());
            }
        }
        return List.copyOf(specs);
    }
}
