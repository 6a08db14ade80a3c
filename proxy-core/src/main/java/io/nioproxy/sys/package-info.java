/**
 * The operating system beyond java.nio: system calls bound through the FFM API ({@code Linux}), socket addresses in
 * C layout, thread priorities.
 *
 * <p>Threading: A {@code Linux.Calls} belongs to one thread (its errno cell).
 */
package io.nioproxy.sys;
