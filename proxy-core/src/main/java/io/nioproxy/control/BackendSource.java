package io.nioproxy.control;

import io.nioproxy.balance.Backend;
import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.config.BackendSpec;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.log.Log;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps a listener's registry equal to its configured backends as they change: the backends file when it is
 * rewritten, and host names as DNS answers change. Every address a host name resolves to is a backend. Backends that
 * appear are added; backends that disappear are removed (no new clients; their sessions finish). Backends added
 * through the admin API are the operator's and are left alone.
 *
 * <p>A file that cannot be read or parsed, or a name that does not resolve this time, changes nothing: the error is
 * logged and the previous backends stay.
 *
 * <p>Threading: the control thread.
 */
public final class BackendSource {
    public static final String ADMIN_SOURCE = "admin";
    static final long FILE_POLL_MILLIS = 500;

    private final BackendRegistry registry;
    private final ListenerConfig config;
    private final Path file;
    private List<BackendSpec> specs;
    private FileTime fileTime;
    private long fileSize = -1;
    private String lastError;

    public BackendSource(BackendRegistry registry, ListenerConfig config, List<BackendSpec> initial) {
        this.registry = registry;
        this.config = config;
        this.file = config.backendsFile() == null ? null : Path.of(config.backendsFile());
        this.specs = initial;
        if (file != null) {
            try {
                fileTime = Files.getLastModifiedTime(file);
                fileSize = Files.size(file);
            } catch (IOException e) {
                fileTime = null;
            }
        }
    }

    public void start(ScheduledExecutorService control) {
        if (file != null) {
            control.scheduleWithFixedDelay(this::pollFile, FILE_POLL_MILLIS, FILE_POLL_MILLIS, TimeUnit.MILLISECONDS);
        }
        if (config.dnsRefreshNanos() > 0 && specs.stream().anyMatch(s -> !Resolver.isLiteral(s.address().host()))) {
            control.scheduleWithFixedDelay(this::refresh, config.dnsRefreshNanos(), config.dnsRefreshNanos(),
                    TimeUnit.NANOSECONDS);
        } else if (config.dnsRefreshNanos() > 0 && file != null) {
            control.scheduleWithFixedDelay(this::refresh, config.dnsRefreshNanos(), config.dnsRefreshNanos(),
                    TimeUnit.NANOSECONDS);
        }
    }

    /** Re-reads the file if its time or size changed. */
    void pollFile() {
        try {
            FileTime t;
            long size;
            try {
                t = Files.getLastModifiedTime(file);
                size = Files.size(file);
            } catch (IOException e) {
                reject("cannot read " + file + ": " + e.getMessage());
                return;
            }
            if (t.equals(fileTime) && size == fileSize) {
                return;
            }
            fileTime = t;
            fileSize = size;
            List<BackendSpec> next;
            try {
                next = BackendsFile.read(file);
            } catch (ConfigException e) {
                reject(e.getMessage());
                return;
            }
            lastError = null;
            Log.info("listener " + config.name() + ": backends file " + file + " changed: " + next);
            specs = next;
            refresh();
        } catch (RuntimeException e) {
            Log.error("listener " + config.name() + ": watching " + file + " failed", e);
        }
    }

    private void reject(String why) {
        if (!Objects.equals(why, lastError)) {
            Log.warn("listener " + config.name() + ": backends file rejected, keeping the previous backends: " + why);
            lastError = why;
        }
    }

    /** Resolves every spec and reconciles the registry with the result. */
    public synchronized void refresh() {
        Map<String, InetSocketAddress> wanted = new HashMap<>();
        Map<String, BackendSpec> specOf = new HashMap<>();
        for (BackendSpec spec : specs) {
            List<InetSocketAddress> addresses;
            try {
                addresses = Resolver.lookup(spec.address());
            } catch (UnknownHostException e) {
                Log.warn("listener " + config.name() + ": " + spec.address() + " does not resolve now; keeping its backends");
                for (Backend b : registry.backends()) {
                    if (!b.removed() && b.source().equals(spec.toString())) {
                        wanted.put(b.identity(), b.address());
                        specOf.put(b.identity(), spec);
                    }
                }
                continue;
            }
            for (InetSocketAddress a : addresses) {
                wanted.put(Backend.identityOf(a), a);
                specOf.put(Backend.identityOf(a), spec);
            }
        }
        for (Backend b : registry.backends()) {
            if (b.removed() || ADMIN_SOURCE.equals(b.source())) {
                continue;
            }
            if (!wanted.containsKey(b.identity())) {
                registry.remove(b.identity());
            }
        }
        for (Map.Entry<String, InetSocketAddress> e : wanted.entrySet()) {
            BackendSpec spec = specOf.get(e.getKey());
            Backend existing = registry.find(e.getKey());
            if (existing == null || existing.removed() || existing.weight() != spec.weight()) {
                registry.add(e.getValue(), spec.weight(), spec.toString());
            }
        }
    }

    /** The last file error, or null when the file in use parsed (for tests and the admin API). */
    public String lastError() {
        return lastError;
    }
}
