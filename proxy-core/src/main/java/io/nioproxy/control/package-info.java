/**
 * Where backends come from: {@code proxy.backends} or its file at start ({@code InitialBackends}), the backends file
 * and DNS while running ({@code BackendSource}).
 *
 * <p>Threading: Start-up and the control thread.
 */
package io.nioproxy.control;
