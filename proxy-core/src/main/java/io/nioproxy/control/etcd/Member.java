package io.nioproxy.control.etcd;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.nioproxy.balance.Backend;
import io.nioproxy.config.BackendSpec;
import io.nioproxy.config.ConfigException;
import io.nioproxy.config.Durations;
import io.nioproxy.config.HostPort;
import io.nioproxy.control.Resolver;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * One backend as etcd holds it: the key {@code PREFIX + POOL + "/" + IP:PORT} and a JSON value
 * {@code {"weight": 1..256, "state": "active" | "draining", "drain_timeout": "30s"}}, every field optional (an empty
 * value is an active backend of weight 1, what a backend registering itself under a lease writes).
 *
 * <p>The address is an IP literal: a host name could resolve differently on two instances, and then they would not
 * build the same table.
 *
 * @param pool              the pool (listener) name
 * @param address           where to connect
 * @param weight            relative share, 1..{@value BackendSpec#MAX_WEIGHT}
 * @param draining          drained: no new clients
 * @param drainTimeoutNanos for a drain: how long its sessions may run; -1 for the pool's own drain timeout
 *
 * <p>Immutable; any thread.
 */
public record Member(String pool, InetSocketAddress address, int weight, boolean draining, long drainTimeoutNanos) {
    private static final JsonFactory JSON = new JsonFactory();

    public String identity() {
        return Backend.identityOf(address);
    }

    /** The pool a key under {@code prefix} belongs to, or null when it is not {@code PREFIX POOL/ADDRESS}. */
    public static String poolOf(String prefix, String key) {
        if (!key.startsWith(prefix)) {
            return null;
        }
        int slash = key.indexOf('/', prefix.length());
        return slash <= prefix.length() ? null : key.substring(prefix.length(), slash);
    }

    /**
     * Reads one key and value.
     *
     * @throws IllegalArgumentException naming the key and what is wrong with it
     */
    public static Member parse(String prefix, String key, byte[] value) {
        String pool = poolOf(prefix, key);
        if (pool == null) {
            throw new IllegalArgumentException("key " + key + ": expected " + prefix + "POOL/IP:PORT");
        }
        String addr = key.substring(prefix.length() + pool.length() + 1);
        HostPort hp;
        try {
            hp = HostPort.parse(key, addr);
        } catch (ConfigException e) {
            throw new IllegalArgumentException("key " + key + ": " + e.getMessage());
        }
        if (!Resolver.isLiteral(hp.host())) {
            throw new IllegalArgumentException("key " + key + ": the address must be IP:PORT or [IPv6]:PORT, not a"
                    + " host name (every instance must see the same backend)");
        }
        InetSocketAddress address = new InetSocketAddress(hp.host(), hp.port());
        int weight = 1;
        boolean draining = false;
        long drainTimeout = -1;
        String text = new String(value, StandardCharsets.UTF_8).trim();
        if (!text.isEmpty()) {
            try (JsonParser p = JSON.createParser(text)) {
                if (p.nextToken() != JsonToken.START_OBJECT) {
                    throw new IllegalArgumentException("key " + key + ": the value must be a JSON object, not " + text);
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    JsonToken t = p.nextToken();
                    switch (field) {
                        case "weight" -> {
                            if (t != JsonToken.VALUE_NUMBER_INT || p.getLongValue() < 1
                                    || p.getLongValue() > BackendSpec.MAX_WEIGHT) {
                                throw new IllegalArgumentException("key " + key + ": weight " + p.getText()
                                        + ": expected a whole number from 1 to " + BackendSpec.MAX_WEIGHT);
                            }
                            weight = p.getIntValue();
                        }
                        case "state" -> {
                            String s = p.getText();
                            if (t != JsonToken.VALUE_STRING || !(s.equals("active") || s.equals("draining"))) {
                                throw new IllegalArgumentException("key " + key + ": state " + s
                                        + ": expected \"active\" or \"draining\"");
                            }
                            draining = s.equals("draining");
                        }
                        case "drain_timeout" -> {
                            try {
                                drainTimeout = Durations.parseNanos("drain_timeout", p.getText());
                            } catch (ConfigException e) {
                                throw new IllegalArgumentException("key " + key + ": " + e.getMessage());
                            }
                        }
                        default -> p.skipChildren(); // room for fields a newer nioproxy writes
                    }
                }
                if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                    throw new IllegalArgumentException("key " + key + ": the value is not one JSON object: " + text);
                }
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalArgumentException("key " + key + ": the value is not JSON ("
                        + e.getOriginalMessage() + "): " + text);
            } catch (IOException e) {
                throw new UncheckedIOException(e); // parsing a String reads no file or socket
            }
        }
        return new Member(pool, address, weight, draining, drainTimeout);
    }

    /** The value to write for this member. */
    public String json() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(64);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeNumberField("weight", weight);
            g.writeStringField("state", draining ? "draining" : "active");
            if (drainTimeoutNanos >= 0) {
                g.writeStringField("drain_timeout", drainTimeoutNanos / 1_000_000 + "ms");
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The key of this member under {@code prefix}. */
    public String key(String prefix) {
        return prefix + pool + "/" + identity();
    }
}
