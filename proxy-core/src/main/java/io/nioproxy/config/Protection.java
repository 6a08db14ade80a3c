package io.nioproxy.config;

import java.util.List;

/**
 * A listener's defences: PROXY protocol, limits and the timeouts for dead or hostile peers. Immutable.
 *
 * @param sendProxy            PROXY protocol version sent to backends: 0 (off), 1 or 2
 * @param trustedProxies       sources whose connections must start with a PROXY header (empty: none accepted)
 * @param proxyHeaderTimeoutNanos deadline for that header, from accept
 * @param maxConn              sessions of this listener at once (0: no limit); past it, accepting pauses
 * @param backendMaxConn       sessions per backend at once (0: no limit); a full backend spills to the next
 * @param clientMaxConn        sessions per client address at once (0: no limit)
 * @param clientRate           new connections per client address per second (0: no limit)
 * @param halfClosedTimeoutNanos once one side sent FIN, close after this long with no byte (0: never)
 * @param maxAgeNanos          close any session this old (0: never)
 * @param keepAlive            SO_KEEPALIVE on both legs
 * @param keepAliveIdleSeconds TCP_KEEPIDLE (0: the kernel's)
 * @param keepAliveIntervalSeconds TCP_KEEPINTERVAL (0: the kernel's)
 * @param keepAliveCount       TCP_KEEPCOUNT (0: the kernel's)
 */
public record Protection(int sendProxy, List<Cidr> trustedProxies, long proxyHeaderTimeoutNanos, int maxConn,
                         int backendMaxConn, int clientMaxConn, int clientRate, long halfClosedTimeoutNanos,
                         long maxAgeNanos, boolean keepAlive, int keepAliveIdleSeconds, int keepAliveIntervalSeconds,
                         int keepAliveCount) {
    public Protection {
        trustedProxies = List.copyOf(trustedProxies);
    }

    public boolean trusted(java.net.InetAddress a) {
        for (Cidr c : trustedProxies) {
            if (c.contains(a)) {
                return true;
            }
        }
        return false;
    }
}
