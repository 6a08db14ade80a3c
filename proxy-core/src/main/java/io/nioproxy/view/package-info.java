/**
 * {@code ProxyView}: what admin and metrics see of a running balancer, so that they never depend on the class that
 * wires the process.
 *
 * <p>Threading: Any thread but a loop's.
 */
package io.nioproxy.view;
