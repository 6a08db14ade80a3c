package io.nioproxy.listener;

import io.nioproxy.balance.Backend;
import io.nioproxy.balance.AffinityTable;
import io.nioproxy.balance.BackendRegistry;
import io.nioproxy.balance.BalancePolicy;
import io.nioproxy.balance.Balancer;
import io.nioproxy.config.AcceptMode;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.ListenerConfig;
import io.nioproxy.config.Settings;
import io.nioproxy.loop.EventLoop;
import io.nioproxy.loop.LoopTask;
import io.nioproxy.relay.Route;
import io.nioproxy.relay.SessionTable;
import io.nioproxy.transport.ListenSocket;
import io.nioproxy.transport.Transport;


import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;

/**
 * One listening address and the backends behind it: binds the socket(s), creates the {@link Acceptor}s on the
 * loops, and owns the {@link Route} (settings, balancer, counters) its sessions share. A pool is a listener without
 * an address ({@link ListenerConfig#pool()}): the same backends, balancer, health checks and counters, reached by the
 * sessions that listeners route to it by TLS server name; it binds nothing.
 *
 * <p>Accept modes: {@code reuseport} binds one listening socket per loop with {@code SO_REUSEPORT}, so the kernel
 * spreads connections and no socket crosses threads; {@code acceptor} binds one socket on loop 0, which hands each
 * accepted socket to the loops in turn. With one worker both are the same.
 *
 * <p>Threading: built and bound on the start-up thread; the acceptors then run on their loops; counters from any
 * thread.
 */
public final class Listener {
    private final ListenerConfig config;
    private final Route route;
    private final List<Acceptor> acceptors = new ArrayList<>();
    final LongAdder acceptPauses = new LongAdder();
    final LongAdder limitPauses = new LongAdder();
    private InetSocketAddress boundAddress;

    public Listener(ListenerConfig config) {
        this(config, 1);
    }

    /**
     * A listener with no backends yet ({@code control.InitialBackends} seeds them before it binds).
     *
     * @param loops event loops (per-loop recorders)
     */
    public Listener(ListenerConfig config, int loops) {
        this.config = config;
        AffinityTable affinity = config.affinityTtlNanos() > 0 && config.balance() == BalancePolicy.SOURCE_IP
                ? new AffinityTable(config.affinityMax(), config.affinityTtlNanos()) : null;
        BackendRegistry registry = new BackendRegistry(config.name(),
                new Balancer(config.balance(), List.of(), affinity), affinity);
        registry.balancer().backendMaxConn(config.protection().backendMaxConn());
        registry.balancer().slowStart(config.slowStartNanos());
        this.route = new Route(config, registry, loops);
    }

    public ListenerConfig config() {
        return config;
    }

    public Route route() {
        return route;
    }

    /** The backends now (a copy). */
    public List<Backend> backends() {
        return route.registry().backends();
    }

    public BackendRegistry registry() {
        return route.registry();
    }

    /** The address actually bound (with the real port when 0 was asked for); null for a pool. */
    public InetSocketAddress boundAddress() {
        return boundAddress;
    }

    /** Times accepting paused because maxconn (listener or global) was reached. */
    public long limitPauses() {
        return limitPauses.sum();
    }

    /** Times accepting paused after a failed accept (out of descriptors). */
    public long acceptPauses() {
        return acceptPauses.sum();
    }

    /**
     * Binds and starts accepting on the given loops (already running), with sockets of their transport.
     *
     * @throws ConfigException when the address cannot be bound (in use, not local, no permission)
     */
    public void bind(Transport transport, EventLoop[] loops, SessionTable[] tables, AcceptMode mode) {
        if (config.pool()) {
            return; // a pool accepts nothing: listeners route their clients to it
        }
        InetSocketAddress wanted = config.listen().resolve(Settings.LISTEN.property());
        boolean perLoop = mode == AcceptMode.REUSEPORT && loops.length > 1;
        try {
            if (perLoop && wanted.getPort() != 0) {
                // SO_REUSEPORT sockets of one user share a port silently; bind once without it first, so that a
                // port already taken by anything (another nioproxy included) is an error, as without reuseport.
                try (ServerSocketChannel probe = ServerSocketChannel.open(wanted.getAddress() instanceof java.net.Inet4Address
                        ? java.net.StandardProtocolFamily.INET : java.net.StandardProtocolFamily.INET6)) {
                    probe.bind(wanted);
                }
            }
            int count = perLoop ? loops.length : 1;
            for (int i = 0; i < count; i++) {
                ListenSocket socket = transport.listen(i == 0 ? wanted : boundAddress, config, perLoop);
                if (i == 0) {
                    boundAddress = socket.localAddress();
                }
                Acceptor a = perLoop
                        ? new Acceptor(this, loops[i], socket, new SessionTable[] {tables[i]}, new EventLoop[] {loops[i]})
                        : new Acceptor(this, loops[0], socket, tables, loops);
                acceptors.add(a);
                registerOn(a.loop(), a);
            }
        } catch (BindException e) {
            close();
            throw ConfigException.bad(keyFor(Settings.LISTEN), config.listen().toString(),
                    "cannot listen there: " + e.getMessage() + " (is another process using the port?)");
        } catch (IOException | RuntimeException e) {
            close();
            if (e instanceof ConfigException ce) {
                throw ce;
            }
            throw ConfigException.bad(keyFor(Settings.LISTEN), config.listen().toString(), "cannot listen there: " + e);
        }
    }

    /**
     * Starts accepting on listening sockets received from the process this one takes over from (in its loop
     * order). One socket serves every loop, as in acceptor mode; several are spread over the loops, and loops left
     * over get reuseport sockets of their own on the same address.
     */
    public void adopt(Transport transport, EventLoop[] loops, SessionTable[] tables, int[] fds) throws IOException {
        List<ListenSocket> sockets = new ArrayList<>();
        for (int fd : fds) {
            sockets.add(transport.adopt(fd, config));
        }
        boundAddress = sockets.get(0).localAddress();
        if (sockets.size() == 1) {
            Acceptor a = new Acceptor(this, loops[0], sockets.get(0), tables, loops);
            acceptors.add(a);
            registerOn(a.loop(), a);
            return;
        }
        for (int i = 0; i < Math.max(sockets.size(), loops.length); i++) {
            int loop = i % loops.length;
            ListenSocket s = i < sockets.size() ? sockets.get(i) : transport.listen(boundAddress, config, true);
            Acceptor a = new Acceptor(this, loops[loop], s, new SessionTable[] {tables[loop]},
                    new EventLoop[] {loops[loop]});
            acceptors.add(a);
            registerOn(a.loop(), a);
        }
    }

    /** The listening sockets' descriptors, for a take-over (empty with java.nio). */
    public int[] listenFds() {
        return acceptors.stream().mapToInt(Acceptor::nativeFd).filter(fd -> fd >= 0).toArray();
    }

    /** The property a listener key of this listener is read from, for error messages. */
    private String keyFor(Settings.Key key) {
        return Settings.propertyOf(config.name(), key);
    }

    /** Registers the acceptor on its loop's thread and waits for it (start-up only). */
    private static void registerOn(EventLoop loop, Acceptor a) throws IOException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        boolean taken = loop.execute(new LoopTask() {
            @Override
            public void runOn(EventLoop l) {
                try {
                    a.register();
                    done.complete(null);
                } catch (IOException | RuntimeException e) {
                    done.completeExceptionally(e);
                }
            }

            @Override
            public void discard() {
                done.completeExceptionally(new IOException(loop + " stopped"));
            }
        });
        if (!taken) {
            throw new IOException(loop + " is not running");
        }
        try {
            done.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (InterruptedException | TimeoutException e) {
            throw new IOException("registering the listener on " + loop + ": " + e);
        }
    }

    /** Stops accepting: closes the listening socket(s). Open sessions are not touched. Any thread. */
    public void close() {
        for (Acceptor a : acceptors) {
            a.close();
        }
    }
}
