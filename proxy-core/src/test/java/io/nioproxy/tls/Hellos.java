package io.nioproxy.tls;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

/** Real ClientHellos, as the JDK's TLS client writes them, and the same hellos cut into other records. */
public final class Hellos {
    private Hellos() {
    }

    /** The first flight of a JDK TLS client asking for {@code serverName} (none when null), with ALPN protocols. */
    public static byte[] jdk(String serverName, String... alpn) throws Exception {
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, null, null);
        SSLEngine engine = ctx.createSSLEngine("peer.invalid", 443);
        engine.setUseClientMode(true);
        SSLParameters params = engine.getSSLParameters();
        params.setServerNames(serverName == null ? List.<SNIServerName>of() : List.of(new SNIHostName(serverName)));
        if (alpn.length > 0) {
            params.setApplicationProtocols(alpn);
        }
        engine.setSSLParameters(params);
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.wrap(ByteBuffer.allocate(0), out);
        out.flip();
        byte[] hello = new byte[out.remaining()];
        out.get(hello);
        return hello;
    }

    /** The handshake bytes of {@code records}, cut again into records of at most {@code size} bytes each. */
    public static byte[] refragment(byte[] records, int size) {
        ByteArrayOutputStream handshake = new ByteArrayOutputStream();
        for (int p = 0; p < records.length; ) {
            int length = (records[p + 3] & 0xFF) << 8 | (records[p + 4] & 0xFF);
            handshake.write(records, p + 5, length);
            p += 5 + length;
        }
        byte[] h = handshake.toByteArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int p = 0; p < h.length; p += size) {
            int n = Math.min(size, h.length - p);
            out.write(new byte[] {0x16, 0x03, 0x01, (byte) (n >> 8), (byte) n}, 0, 5);
            out.write(h, p, n);
        }
        return out.toByteArray();
    }

    /** {@code bytes[0, n)} in a buffer that ends there: a read past the limit throws instead of seeing more. */
    public static ByteBuffer exact(byte[] bytes, int n) {
        return ByteBuffer.wrap(Arrays.copyOf(bytes, n)).asReadOnlyBuffer();
    }
}
