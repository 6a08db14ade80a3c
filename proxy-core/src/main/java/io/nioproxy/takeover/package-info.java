/**
 * Take-over: a new nioproxy process receives the running one's listening sockets over a Unix-domain socket
 * ({@code SCM_RIGHTS}), so that a restart or an upgrade refuses no connection. {@code HandoverSocket} is the channel,
 * {@code TakeoverServer} the running process's side, {@code TakeoverClient} the new one's.
 *
 * <p>Threading: the take-over thread of the running process; the start-up thread of the new one.
 */
package io.nioproxy.takeover;
