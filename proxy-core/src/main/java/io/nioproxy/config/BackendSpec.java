package io.nioproxy.config;

/**
 * One backend as configured: {@code HOST:PORT[@WEIGHT]}. Immutable.
 *
 * @param address where to connect
 * @param weight  relative share of clients, 1..{@value #MAX_WEIGHT}
 */
public record BackendSpec(HostPort address, int weight) {
    public static final int MAX_WEIGHT = 256;

    public static BackendSpec parse(String key, String text) {
        String t = text.trim();
        int at = t.lastIndexOf('@');
        int weight = 1;
        if (at >= 0) {
            try {
                weight = Integer.parseInt(t.substring(at + 1).trim());
            } catch (NumberFormatException e) {
                weight = -1;
            }
            if (weight < 1 || weight > MAX_WEIGHT) {
                throw ConfigException.bad(key, text, "the weight after '@' must be a whole number from 1 to " + MAX_WEIGHT);
            }
            t = t.substring(0, at);
        }
        return new BackendSpec(HostPort.parse(key, t), weight);
    }

    /** The identity the hash table is built from: the address as written, never its position in a list. */
    public String identity() {
        return address.toString();
    }

    @Override
    public String toString() {
        return weight == 1 ? address.toString() : address + "@" + weight;
    }
}
