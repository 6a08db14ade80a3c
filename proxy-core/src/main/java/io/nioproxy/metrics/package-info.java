/**
 * Prometheus text and the dashboard's history, read from a {@code ProxyView}.
 *
 * <p>Threading: The admin and control threads.
 */
package io.nioproxy.metrics;
