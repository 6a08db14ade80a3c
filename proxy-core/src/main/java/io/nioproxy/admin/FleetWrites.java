package io.nioproxy.admin;

import io.nioproxy.balance.Backend;
import io.nioproxy.control.etcd.EtcdMembership;
import io.nioproxy.control.etcd.Member;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * The admin endpoint's backend changes when the membership comes from etcd: written to etcd, not to this instance's
 * registry, so that one command steers every instance. Each reply waits (up to {@code proxy.etcd.timeout}) until this
 * instance has applied the write through its watch, so a {@code GET /backends} right after shows it; it says
 * {@code "applied": false} when that took longer. When etcd does not take the write, nothing changes anywhere and
 * the reply is 503.
 *
 * <p>Threading: the admin thread.
 */
final class FleetWrites {
    private final EtcdMembership membership;

    FleetWrites(EtcdMembership membership) {
        this.membership = membership;
    }

    String add(String pool, List<InetSocketAddress> addresses, int weight) {
        StringBuilder added = new StringBuilder("[");
        long rev = 0;
        for (InetSocketAddress a : addresses) {
            Member m = new Member(pool, a, weight, false, -1);
            rev = write(() -> membership.write(m));
            added.append(added.length() > 1 ? "," : "").append(Json.string(m.identity()));
        }
        return "{\"added\":" + added.append(']') + applied(rev) + "}";
    }

    String drain(String pool, Backend b, long timeoutNanos) {
        Member m = new Member(pool, b.address(), b.weight(), true, timeoutNanos);
        long rev = write(() -> membership.write(m));
        return "{\"draining\":" + Json.string(b.identity()) + ",\"active\":" + b.active() + applied(rev) + "}";
    }

    String weight(String pool, Backend b, int weight) {
        Member now = membership.member(pool, b.identity());
        Member m = new Member(pool, b.address(), weight, now != null && now.draining(),
                now == null ? -1 : now.drainTimeoutNanos());
        long rev = write(() -> membership.write(m));
        return "{\"address\":" + Json.string(b.identity()) + ",\"weight\":" + weight + applied(rev) + "}";
    }

    String remove(String pool, Backend b) {
        long rev = write(() -> membership.delete(pool, b.identity()));
        return "{\"removed\":" + Json.string(b.identity()) + ",\"active\":" + b.active() + applied(rev) + "}";
    }

    private interface EtcdCall {
        long run() throws IOException;
    }

    private static long write(EtcdCall call) {
        try {
            return call.run();
        } catch (IOException e) {
            throw new AdminServer.BadRequest(503, "etcd did not take the change (" + e.getMessage()
                    + "): nothing was changed, on this instance or any other");
        }
    }

    private String applied(long rev) {
        boolean applied;
        try {
            applied = membership.awaitRevision(rev, membership.config().timeoutNanos());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            applied = false;
        }
        return ",\"revision\":" + rev + ",\"applied\":" + applied;
    }
}
