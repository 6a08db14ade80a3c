/**
 * Pooled direct relay buffers, one pool per loop.
 *
 * <p>Threading: The owning loop thread only (counts readable from any thread).
 */
package io.nioproxy.buffer;
