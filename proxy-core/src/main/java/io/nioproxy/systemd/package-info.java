/**
 * The service manager's side of the process: {@code sd_notify} ({@link io.nioproxy.systemd.Notifier}), so that a
 * {@code Type=notify} unit knows when the balancer is ready and which process is its main one after a take-over.
 */
package io.nioproxy.systemd;
