package io.nioproxy.balance;

import java.util.Locale;

/** How a listener picks a backend for a new client connection ({@code proxy.balance}). */
public enum BalancePolicy {
    /** Maglev over a hash of the client IP: every connection from one address reaches one backend. */
    SOURCE_IP("source-ip"),
    /** Maglev over a hash of client IP and port: spreads clients behind one NAT, no stickiness across reconnects. */
    SOURCE_IP_PORT("source-ip-port"),
    /** Smooth weighted round robin (the sequence nginx uses), per event loop. */
    ROUND_ROBIN("round-robin"),
    /** Fewest active sessions relative to weight, counted across all loops. */
    LEAST_CONN("least-conn");

    private final String configName;

    BalancePolicy(String configName) {
        this.configName = configName;
    }

    public String configName() {
        return configName;
    }

    /** @return the policy, or null when the name is unknown. */
    public static BalancePolicy fromConfigName(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (BalancePolicy p : values()) {
            if (p.configName.equals(n)) {
                return p;
            }
        }
        return null;
    }

    /** Whether the pick is a pure function of the client address (and so agrees across balancer instances). */
    public boolean hashed() {
        return this == SOURCE_IP || this == SOURCE_IP_PORT;
    }
}
