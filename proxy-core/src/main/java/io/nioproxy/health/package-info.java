/**
 * Active and passive health checks: rise, fall, hold-down.
 *
 * <p>Threading: The control thread and the check pool; loops only count failed connects.
 */
package io.nioproxy.health;
