/**
 * The process: {@code Main} (the command line), {@code Demo}, {@code Proxy} (wires loops, listeners, control threads
 * and the admin endpoint, and is the {@code view.ProxyView} they read) and {@code WarmUp}.
 *
 * <p>Threading: The start-up and shutdown thread; {@code Proxy}'s read-only accessors from any thread.
 */
package io.nioproxy;
