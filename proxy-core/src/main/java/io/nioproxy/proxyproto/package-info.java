/**
 * The PROXY protocol, v1 and v2: an incremental parser that never reads past its input or trusts an unchecked
 * length, and an encoder.
 *
 * <p>Threading: Stateless; any thread.
 */
package io.nioproxy.proxyproto;
