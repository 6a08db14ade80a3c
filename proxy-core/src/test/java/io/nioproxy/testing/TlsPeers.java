package io.nioproxy.testing;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Real TLS peers for tests: a certificate per host name made by the JDK's own {@code keytool} (an EC key, the name in
 * the subject and the subjectAltName), TLS echo servers of the JDK's {@code SSLServerSocket} presenting one, and
 * clients of the JDK's {@code SSLSocket} that trust exactly those certificates.
 */
public final class TlsPeers {
    public static final String PASSWORD = "changeit";
    private final Path dir;
    private final KeyStore trust;

    public TlsPeers(Path dir) throws Exception {
        this.dir = dir;
        this.trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
    }

    /** A PKCS#12 key store with a fresh key and self-signed certificate for {@code names} (the first is the CN). */
    public Path keyStore(String... names) throws Exception {
        Path file = dir.resolve(names[0].replace('*', '_') + ".p12");
        if (!Files.exists(file)) {
            StringBuilder san = new StringBuilder();
            for (String n : names) {
                san.append(san.length() == 0 ? "SAN=" : ",").append("dns:").append(n);
            }
            String keytool = System.getProperty("java.home") + File.separator + "bin" + File.separator + "keytool";
            Process p = new ProcessBuilder(keytool, "-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname",
                    "secp256r1", "-dname", "CN=" + names[0], "-ext", san.toString(), "-validity", "2", "-keystore",
                    file.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD, "-keypass", PASSWORD)
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException("keytool failed: " + out);
            }
        }
        KeyStore ks = load(file);
        trust.setCertificateEntry(names[0], ks.getCertificate("server"));
        return file;
    }

    /** Also writes the certificate as PEM (for {@code openssl s_client -CAfile}). */
    public Path pem(Path keyStore) throws Exception {
        X509Certificate c = (X509Certificate) load(keyStore).getCertificate("server");
        Path out = Path.of(keyStore.toString().replace(".p12", ".pem"));
        Files.writeString(out, "-----BEGIN CERTIFICATE-----\n"
                + java.util.Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(c.getEncoded())
                + "\n-----END CERTIFICATE-----\n");
        return out;
    }

    private static KeyStore load(Path file) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            ks.load(in, PASSWORD.toCharArray());
        }
        return ks;
    }

    /** A server context presenting {@code keyStore}'s certificate. */
    public static SSLContext serverContext(Path keyStore) throws Exception {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(load(keyStore), PASSWORD.toCharArray());
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        return ctx;
    }

    /** A client context that trusts every certificate made so far, and only those. */
    public SSLContext clientContext() throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    /**
     * A TLS client over {@code plain} (already connected) asking for {@code serverName} (none when null), its
     * handshake done.
     */
    public SSLSocket client(Socket plain, String serverName) throws Exception {
        SSLSocket s = (SSLSocket) clientContext().getSocketFactory().createSocket(plain, "127.0.0.1",
                plain.getPort(), true);
        SSLParameters params = s.getSSLParameters();
        params.setServerNames(serverName == null ? List.<SNIServerName>of() : List.of(new SNIHostName(serverName)));
        s.setSSLParameters(params);
        s.setSoTimeout(10_000);
        s.startHandshake();
        return s;
    }

    /** The CN of the certificate the peer presented. */
    public static String peerName(SSLSocket s) throws Exception {
        X509Certificate c = (X509Certificate) s.getSession().getPeerCertificates()[0];
        return c.getSubjectX500Principal().getName().replace("CN=", "");
    }

    /** A TLS echo server: every byte a client sends after the handshake comes back. */
    public static final class EchoServer implements AutoCloseable {
        private final SSLServerSocket server;
        private final Set<Socket> open = ConcurrentHashMap.newKeySet();
        private final AtomicInteger accepted = new AtomicInteger();
        private volatile boolean closed;

        public EchoServer(Path keyStore) throws Exception {
            server = (SSLServerSocket) serverContext(keyStore).getServerSocketFactory()
                    .createServerSocket(0, 100, InetAddress.getLoopbackAddress());
            Thread t = new Thread(this::acceptLoop, "tls-echo-accept");
            t.setDaemon(true);
            t.start();
        }

        private void acceptLoop() {
            while (!closed) {
                Socket s;
                try {
                    s = server.accept();
                } catch (IOException e) {
                    return;
                }
                accepted.incrementAndGet();
                open.add(s);
                Thread t = new Thread(() -> {
                    try (s) {
                        InputStream in = s.getInputStream();
                        OutputStream out = s.getOutputStream();
                        byte[] buf = new byte[16 << 10];
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            out.write(buf, 0, n);
                            out.flush();
                        }
                    } catch (IOException e) {
                        // the client went away
                    } finally {
                        open.remove(s);
                    }
                }, "tls-echo");
                t.setDaemon(true);
                t.start();
            }
        }

        public String address() {
            return "127.0.0.1:" + server.getLocalPort();
        }

        /** Connections accepted (TCP), whether or not their handshake completed. */
        public int accepted() {
            return accepted.get();
        }

        @Override
        public void close() throws IOException {
            closed = true;
            server.close();
            for (Socket s : open) {
                s.close();
            }
        }
    }
}
