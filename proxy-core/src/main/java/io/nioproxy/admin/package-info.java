/**
 * The admin HTTP endpoint and the dashboard, on the JDK's HTTP server.
 *
 * <p>Threading: Its own thread; it reaches loops only through {@code LoopTask}s.
 */
package io.nioproxy.admin;
