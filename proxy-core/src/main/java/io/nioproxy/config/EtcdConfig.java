package io.nioproxy.config;

import java.util.List;

/**
 * Where the fleet's membership lives: an etcd cluster, read and written through its v3 JSON gateway. Every listener
 * and pool then takes its backends from the keys under {@code prefix + NAME + "/"}.
 *
 * @param endpoints    the etcd members' client addresses (plain HTTP), tried in turn
 * @param prefix       the key prefix of every pool (ends with {@code /})
 * @param timeoutNanos deadline of one request (range, put, delete, probe) and of the first read at start
 */
public record EtcdConfig(List<HostPort> endpoints, String prefix, long timeoutNanos) {

    public EtcdConfig {
        endpoints = List.copyOf(endpoints);
    }

    /** The key prefix of one pool's backends. */
    public String poolPrefix(String pool) {
        return prefix + pool + "/";
    }
}
