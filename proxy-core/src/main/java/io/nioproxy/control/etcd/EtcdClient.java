package io.nioproxy.control.etcd;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.nioproxy.config.HostPort;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * etcd's v3 key-value and watch API through the JSON gateway every etcd since 3.3 serves on its client port
 * ({@code POST /v3/kv/range}, {@code /v3/kv/put}, {@code /v3/kv/deleterange}, {@code /v3/watch}). The gateway
 * needs no client library beyond HTTP/1.1 and JSON: keys and values travel base64-encoded, 64-bit numbers as JSON
 * strings. JSON is read and written with jackson-core's streaming API.
 *
 * <p>Members are tried in turn: a request that cannot reach one member, or that it answers without a leader, moves to
 * the next for the following request.
 *
 * <p>Every request is one HTTP/1.1 exchange on a connection of its own ({@code Connection: close}): a request a second
 * costs nothing worth pooling, and a stopped balancer leaves no idle connection to etcd behind (the JDK's
 * {@code HttpClient}, whose pool would keep them, cannot be closed before JDK 21).
 *
 * <p>Threading: any thread; the current member is a volatile index.
 */
public final class EtcdClient {
    private static final JsonFactory JSON = new JsonFactory();
    /**
     * gRPC metadata through the gateway: a watch on a member that loses its leader is cancelled by etcd instead of
     * going silent (what clientv3's {@code WithRequireLeader} asks).
     */
    private static final String REQUIRE_LEADER = "Grpc-Metadata-hasleader";
    /**
     * A watch with nothing to say for this long is ended and made again. An HttpURLConnection's stream cannot be
     * closed by another thread while one reads it (the close waits for the reader's lock), and the JDK's HttpClient
     * cannot be closed at all before JDK 21; a read deadline is what lets a stopping balancer let go of its
     * connection, within this time.
     */
    static final int IDLE_MILLIS = 5_000;

    /** One key and its value. */
    public record KeyValue(String key, byte[] value, long modRevision) {
    }

    /** A range read: the store's revision when read, and the keys. */
    public record Range(long revision, List<KeyValue> kvs) {
    }

    /** A change seen by a watch; a deletion carries no value. */
    public record Event(boolean delete, KeyValue kv) {
    }

    /** Receives a watch's responses, on the thread that called {@link #watch}. */
    public interface WatchHandler {
        /** The watch is in place; changes after {@code revision} (etcd's revision now) follow. */
        void created(long revision);

        /** Changes, in revision order; {@code revision} is the store's when sent. */
        void events(long revision, List<Event> events);
    }

    /** The watch's start revision was compacted away: the caller must read everything again. */
    public static final class CompactedException extends EtcdException {
        private static final long serialVersionUID = 1L;
        public final long compactRevision;

        CompactedException(long compactRevision) {
            super("revision compacted (etcd compacted up to " + compactRevision + ")");
            this.compactRevision = compactRevision;
        }
    }

    private final List<URI> endpoints;
    private final int timeoutMillis;
    private volatile int current;
    public EtcdClient(List<HostPort> endpoints, long timeoutNanos) {
        List<URI> uris = new ArrayList<>();
        for (HostPort hp : endpoints) {
            String host = hp.host().contains(":") ? "[" + hp.host() + "]" : hp.host();
            uris.add(URI.create("http://" + host + ":" + hp.port()));
        }
        this.endpoints = List.copyOf(uris);
        this.timeoutMillis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeoutNanos / 1_000_000));
    }

    /** The member the next request goes to. */
    public URI endpoint() {
        return endpoints.get(current);
    }

    /** After a failure: the next request goes to the next member. */
    public void nextEndpoint() {
        current = (current + 1) % endpoints.size();
    }

    /** Every key under {@code prefix}, read with a linearizable read (it needs the cluster's quorum). */
    public Range range(String prefix) throws IOException {
        Map<String, Object> reply = call("/v3/kv/range", body(g -> {
            g.writeStringField("key", b64(prefix));
            g.writeStringField("range_end", b64(rangeEnd(prefix)));
        }));
        List<KeyValue> kvs = new ArrayList<>();
        for (Object o : list(reply.get("kvs"))) {
            kvs.add(keyValue(map(o)));
        }
        return new Range(revision(reply), kvs);
    }

    /** Writes a key; returns the revision of the write. */
    public long put(String key, String value) throws IOException {
        return revision(call("/v3/kv/put", body(g -> {
            g.writeStringField("key", b64(key));
            g.writeStringField("value", Base64.getEncoder().encodeToString(value.getBytes(StandardCharsets.UTF_8)));
        })));
    }

    /** Deletes a key; returns the revision after it (unchanged when there was no such key). */
    public long delete(String key) throws IOException {
        return revision(call("/v3/kv/deleterange", body(g -> g.writeStringField("key", b64(key)))));
    }

    /**
     * A linearizable read of at most one key under {@code prefix}: it fails when the member cannot reach a quorum
     * within the timeout. Returns etcd's revision.
     */
    public long probe(String prefix) throws IOException {
        return revision(call("/v3/kv/range", body(g -> {
            g.writeStringField("key", b64(prefix));
            g.writeStringField("range_end", b64(rangeEnd(prefix)));
            g.writeStringField("limit", "1");
            g.writeBooleanField("keys_only", true);
        })));
    }

    /**
     * Watches every key under {@code prefix} from {@code startRevision}: calls the handler until nothing has come for
     * {@value #IDLE_MILLIS} ms, then returns (the caller watches again from the revision it reached: a cheap request,
     * and a member that died without closing its connections is found within that time); throws when the stream
     * ends otherwise (the member went away or lost its leader).
     *
     * @throws CompactedException when {@code startRevision} is older than etcd keeps
     */
    public void watch(String prefix, long startRevision, WatchHandler handler) throws IOException {
        byte[] b = body(g -> {
            g.writeObjectFieldStart("create_request");
            g.writeStringField("key", b64(prefix));
            g.writeStringField("range_end", b64(rangeEnd(prefix)));
            g.writeStringField("start_revision", Long.toString(startRevision));
            g.writeEndObject();
        });
        HttpURLConnection c = open("/v3/watch", b, IDLE_MILLIS);
        c.setRequestProperty(REQUIRE_LEADER, "true");
        try {
            send(c, b);
            if (c.getResponseCode() != 200) {
                reply(c.getResponseCode(), drain(c));
            }
        } catch (EtcdException e) {
            c.disconnect();
            throw e;
        } catch (IOException e) {
            c.disconnect();
            throw new EtcdException(endpoint() + ": " + describe(e), e);
        }
        try (InputStream in = c.getInputStream(); JsonParser p = JSON.createParser(in)) {
            // the gateway streams one JSON object per response: {"result":{...}} or {"error":{...}}
            while (p.nextToken() == JsonToken.START_OBJECT) {
                Map<String, Object> msg = readObject(p);
                if (msg.containsKey("error")) {
                    throw new EtcdException("watch ended by " + endpoint() + ": " + message(map(msg.get("error"))));
                }
                Map<String, Object> result = map(msg.get("result"));
                long compact = number(result.get("compact_revision"));
                if (compact > 0) {
                    throw new CompactedException(compact);
                }
                if (Boolean.TRUE.equals(result.get("canceled"))) {
                    Object reason = result.get("cancel_reason");
                    throw new EtcdException("watch cancelled by " + endpoint()
                            + (reason == null ? "" : ": " + reason));
                }
                long rev = revision(result);
                if (Boolean.TRUE.equals(result.get("created"))) {
                    handler.created(rev);
                }
                List<Event> events = new ArrayList<>();
                for (Object o : list(result.get("events"))) {
                    Map<String, Object> ev = map(o);
                    events.add(new Event("DELETE".equals(ev.get("type")), keyValue(map(ev.get("kv")))));
                }
                if (!events.isEmpty()) {
                    handler.events(rev, events);
                }
            }
        } catch (java.net.SocketTimeoutException idle) {
            return; // nothing for IDLE_MILLIS: the caller watches again from where it is
        } catch (EtcdException e) {
            throw e;
        } catch (IOException e) {
            throw new EtcdException("watch on " + endpoint() + " ended: " + describe(e), e);
        } finally {
            c.disconnect(); // this thread holds the stream's lock: closing it here cannot wait on a reader
        }
        throw new EtcdException("watch stream from " + endpoint() + " ended");
    }

    private Map<String, Object> call(String path, byte[] body) throws IOException {
        HttpURLConnection c = open(path, body, timeoutMillis);
        try {
            send(c, body);
            return reply(c.getResponseCode(), drain(c));
        } catch (EtcdException e) {
            throw e;
        } catch (IOException e) {
            throw new EtcdException(endpoint() + ": " + describe(e), e);
        } finally {
            c.disconnect();
        }
    }

    private HttpURLConnection open(String path, byte[] body, int readTimeoutMillis) throws IOException {
        URL url = endpoint().resolve(path).toURL();
        HttpURLConnection c = (HttpURLConnection) url.openConnection(java.net.Proxy.NO_PROXY);
        c.setConnectTimeout(timeoutMillis);
        c.setReadTimeout(readTimeoutMillis);
        c.setUseCaches(false);
        c.setDoOutput(true);
        c.setRequestMethod("POST");
        c.setRequestProperty("Content-Type", "application/json");
        c.setRequestProperty("Connection", "close");
        c.setFixedLengthStreamingMode(body.length);
        return c;
    }

    private static void send(HttpURLConnection c, byte[] body) throws IOException {
        try (OutputStream out = c.getOutputStream()) {
            out.write(body);
        }
    }

    /** The response body, or the error body when the status is not 2xx. */
    private static byte[] drain(HttpURLConnection c) throws IOException {
        InputStream in = c.getResponseCode() < 400 ? c.getInputStream() : c.getErrorStream();
        if (in == null) {
            return new byte[0];
        }
        try (in) {
            return in.readAllBytes();
        }
    }

    private Map<String, Object> reply(int status, byte[] body) throws IOException {
        Map<String, Object> m;
        try (JsonParser p = JSON.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new EtcdException(endpoint() + " answered HTTP " + status + " with no JSON object");
            }
            m = readObject(p);
        }
        if (status != 200) {
            throw new EtcdException(endpoint() + " answered HTTP " + status + ": " + message(m));
        }
        return m;
    }

    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private static String message(Map<String, Object> error) {
        Object msg = error.containsKey("message") ? error.get("message") : error.get("error");
        return msg == null ? error.toString() : msg.toString();
    }

    @FunctionalInterface
    private interface Fields {
        void write(JsonGenerator g) throws IOException;
    }

    private static byte[] body(Fields fields) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(128);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            fields.write(g);
            g.writeEndObject();
        }
        return out.toByteArray();
    }

    /** Reads the object whose START_OBJECT is the current token into maps, lists, strings, numbers and booleans. */
    private static Map<String, Object> readObject(JsonParser p) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            p.nextToken();
            m.put(name, readValue(p));
        }
        return m;
    }

    private static Object readValue(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t == null) {
            throw new EtcdException("truncated JSON from etcd");
        }
        return switch (t) {
            case START_OBJECT -> readObject(p);
            case START_ARRAY -> {
                List<Object> l = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    l.add(readValue(p));
                }
                yield l;
            }
            case VALUE_STRING -> p.getText();
            case VALUE_NUMBER_INT -> p.getLongValue();
            case VALUE_TRUE -> Boolean.TRUE;
            case VALUE_FALSE -> Boolean.FALSE;
            case VALUE_NULL -> null;
            default -> p.getText();
        };
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return o instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) {
        return o instanceof List<?> l ? (List<Object>) l : List.of();
    }

    /** A protobuf int64 as the gateway writes it: a JSON string (or a number); absent is 0. */
    private static long number(Object o) throws EtcdException {
        if (o == null) {
            return 0;
        }
        try {
            return o instanceof Long l ? l : Long.parseLong(o.toString());
        } catch (NumberFormatException e) {
            throw new EtcdException("not a number from etcd: " + o);
        }
    }

    private static long revision(Map<String, Object> reply) throws EtcdException {
        return number(map(reply.get("header")).get("revision"));
    }

    private static KeyValue keyValue(Map<String, Object> kv) throws EtcdException {
        Object v = kv.get("value");
        return new KeyValue(new String(Base64.getDecoder().decode(String.valueOf(kv.get("key"))), StandardCharsets.UTF_8),
                v == null ? new byte[0] : Base64.getDecoder().decode(v.toString()), number(kv.get("mod_revision")));
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    /** The key just past every key that starts with {@code prefix} (etcd's prefix range): its last byte plus one. */
    static String rangeEnd(String prefix) {
        char last = prefix.charAt(prefix.length() - 1);
        return prefix.substring(0, prefix.length() - 1) + (char) (last + 1);
    }
}
