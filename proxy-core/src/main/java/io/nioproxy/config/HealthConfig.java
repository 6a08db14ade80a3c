package io.nioproxy.config;

/**
 * Health-check settings of one listener. Immutable.
 *
 * @param intervalNanos  time between active checks of a backend; 0 = no active checks (passive only)
 * @param timeoutNanos   one active check's connect + reply deadline
 * @param rise           consecutive successful checks that bring a down backend up
 * @param fall           consecutive failures (checks, or connect failures of clients when passive) that take it down
 * @param send           bytes to send after connecting (null = a plain TCP connect check)
 * @param expect         the reply must start with these bytes (null = no reply awaited)
 * @param holddownNanos  a backend that went down stays down at least this long (a flapping one does not rejoin at
 *                       once); with passive checks only, it is retried after this long
 * @param passive        clients' failed connects count toward {@code fall}
 * @param closeOnDown    close the sessions of a backend that goes down (after {@code closeGraceNanos}); else keep them
 * @param closeGraceNanos delay before those sessions are closed
 */
public record HealthConfig(long intervalNanos, long timeoutNanos, int rise, int fall, String send, String expect,
                           long holddownNanos, boolean passive, boolean closeOnDown, long closeGraceNanos) {
}
