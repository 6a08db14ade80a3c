/**
 * The process log and the access log (a bounded MPSC queue to a writer thread; a full queue drops and counts).
 *
 * <p>Threading: Any thread.
 */
package io.nioproxy.log;
