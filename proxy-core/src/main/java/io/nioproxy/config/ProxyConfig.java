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
 */
public record ProxyConfig(int workers, int bufferBytes, long poolBytesPerLoop, AcceptMode acceptMode,
                          List<ListenerConfig> listeners) {

    public ProxyConfig {
        listeners = List.copyOf(listeners);
    }
}
