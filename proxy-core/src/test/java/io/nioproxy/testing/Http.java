package io.nioproxy.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A minimal HTTP/1.1 client for the admin API in tests: one request per connection ({@code Connection: close}), so
 * no pooled connection outlives the test and skews its descriptor count.
 */
public final class Http {
    /** Status and body of a response. */
    public record Response(int status, String body) {
    }

    private Http() {
    }

    public static Response request(InetSocketAddress server, String method, String pathAndQuery) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(server, 5000);
            s.setSoTimeout(10_000);
            String req = method + " " + pathAndQuery + " HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n"
                    + "Content-Length: 0\r\n\r\n";
            s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
            String all = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int sp = all.indexOf(' ');
            int status = Integer.parseInt(all.substring(sp + 1, sp + 4));
            int body = all.indexOf("\r\n\r\n");
            String rest = body < 0 ? "" : all.substring(body + 4);
            if (all.toLowerCase().contains("transfer-encoding: chunked")) {
                rest = unchunk(rest);
            }
            return new Response(status, rest);
        }
    }

    private static String unchunk(String s) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < s.length()) {
            int eol = s.indexOf("\r\n", i);
            int len = Integer.parseInt(s.substring(i, eol).trim(), 16);
            if (len == 0) {
                break;
            }
            out.append(s, eol + 2, eol + 2 + len);
            i = eol + 2 + len + 2;
        }
        return out.toString();
    }
}
