package io.nioproxy.config;

import java.util.List;

/**
 * The resolved settings of the whole process. Immutable; built once at start by {@link Settings}.
 *
 * @param workers           event loops (threads)
 * @param bufferBytes       size of one pooled relay buffer
 * @param poolBytesPerLoop  most direct memory one loop's buffer pool may hold
 * @param acceptMode        how accepted sockets reach the loops
 * @param listeners         one or more listeners
 * @param admin             address of the admin HTTP endpoint; null = off
 * @param shutdownTimeoutNanos on SIGTERM, how long sessions may finish on their own
 * @param shutdownPaceNanos the window over which the sessions still open after that are closed, spread out
 * @param accessLog         access-log target (stdout, stderr, a path); null = off
 * @param accessLogInterimNanos interim line interval for long sessions; 0 = none
 * @param maxConnGlobal     sessions of the whole process at once; 0 = no limit
 * @param warmUpRoundTrips  round trips of the start-up JIT warm-up ({@code Main} only); 0 = none
 * @param io                how the loops drive sockets (java.nio or direct epoll calls)
 * @param bulkBufferBytes   size of a bulk relay buffer (for directions that keep filling regular ones); 0 = off
 * @param loopSpinPolls     non-blocking polls a loop makes after one that found events, before it may sleep
 * @param backgroundNice    nice value of the control, health-check and JIT compiler threads; 0 = unchanged
 * @param etcd              the fleet's membership store; null = backends from properties, files, DNS and the admin API
 * @param takeoverSocket    path of the Unix-domain socket a new process takes over through; null = none
 * @param effective         every global key (name after {@code proxy.}) with its effective text, for the start-up line
 */
public record ProxyConfig(int workers, int bufferBytes, long poolBytesPerLoop, AcceptMode acceptMode,
                          List<ListenerConfig> listeners, HostPort admin, long shutdownTimeoutNanos,
                          long shutdownPaceNanos, String accessLog, long accessLogInterimNanos,
                          int maxConnGlobal, int warmUpRoundTrips, IoMode io,
                          int bulkBufferBytes, int loopSpinPolls, int backgroundNice, EtcdConfig etcd, String takeoverSocket,
                          java.util.Map<String, String> effective) {

    public ProxyConfig {
        listeners = List.copyOf(listeners);
        effective = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(effective));
    }
}
