/**
 * TLS without decrypting: the server name a client asks for, read from its ClientHello, and the rules that map
 * names to backend pools. Nothing here consumes a byte: the backend receives the client's hello unchanged.
 *
 * <p>Threading: {@code ClientHelloParser} is used by one loop thread (its scratch is reused); {@code
 * ServerNameRules} is immutable once built.
 */
package io.nioproxy.tls;
