package io.nioproxy.proxyproto;

/** A PROXY protocol header that cannot be accepted; the message says why. The connection is closed, and counted. */
public final class ProxyHeaderException extends Exception {
    private static final long serialVersionUID = 1L;

    public ProxyHeaderException(String message) {
        super(message, null, false, false); // no stack trace: this is flow control for bad input, not a bug
    }
}
