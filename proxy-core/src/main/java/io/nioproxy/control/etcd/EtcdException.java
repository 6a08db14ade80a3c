package io.nioproxy.control.etcd;

import java.io.IOException;

/** etcd answered, with an error (no leader, compacted revision, a bad request); or could not be reached. */
public class EtcdException extends IOException {
    private static final long serialVersionUID = 1L;

    public EtcdException(String message) {
        super(message);
    }

    public EtcdException(String message, Throwable cause) {
        super(message, cause);
    }
}
