/**
 * Every {@code proxy.*} setting: {@code Settings.KEYS}, each key with its parser, and the immutable records the rest
 * of the process reads.
 *
 * <p>Threading: Start-up only; the records are immutable and safe to share.
 */
package io.nioproxy.config;
