package io.nioproxy.balance;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.nioproxy.balance.MaglevTableTest.backend;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AffinityTableTest {
    final Backend a = backend("10.0.0.1:80", 1);
    final Backend b = backend("10.0.0.2:80", 1);

    @Test
    void remembersRefreshesAndForgetsAfterTheTtl() {
        AffinityTable t = new AffinityTable(1000, 100);
        assertNull(t.lookup(42, 0));
        t.record(42, a, 0);
        assertSame(a, t.lookup(42, 50));
        t.record(42, a, 90); // refreshed: lives until 190
        assertSame(a, t.lookup(42, 150));
        assertNull(t.lookup(42, 190), "forgotten once idle for the whole ttl");
        t.record(42, b, 200);
        assertSame(b, t.lookup(42, 201), "a client that moved is remembered on its new backend");
    }

    @Test
    void boundedInMemoryWhateverTheNumberOfClients() {
        AffinityTable t = new AffinityTable(1000, Long.MAX_VALUE / 4);
        for (long k = 0; k < 100_000; k++) {
            t.record(Hashing.mix(k), a, k);
        }
        assertEquals(2048, t.capacity());
        assertTrue(t.size(100_000) <= t.capacity());
        // the most recent clients are remembered; the oldest were evicted
        int recent = 0;
        for (long k = 99_900; k < 100_000; k++) {
            if (t.lookup(Hashing.mix(k), 100_000) == a) {
                recent++;
            }
        }
        assertTrue(recent >= 95, "recent clients kept: " + recent);
    }

    @Test
    void forgetDropsEveryClientOfABackend() {
        AffinityTable t = new AffinityTable(100, 1_000_000);
        for (long k = 0; k < 50; k++) {
            t.record(k, k % 2 == 0 ? a : b, 0);
        }
        t.forget(a);
        for (long k = 0; k < 50; k++) {
            if (k % 2 == 0) {
                assertNull(t.lookup(k, 1));
            } else {
                assertSame(b, t.lookup(k, 1));
            }
        }
    }

    @Test
    void concurrentLoopsNeverSeeAMixedEntry() throws Exception {
        // Each client key is only ever recorded on the backend its parity names: a lookup returning the other one
        // would be a torn entry. Four threads hammer overlapping keys.
        AffinityTable t = new AffinityTable(256, Long.MAX_VALUE / 4);
        int threads = 4;
        CountDownLatch go = new CountDownLatch(1);
        Thread[] ts = new Thread[threads];
        java.util.concurrent.atomic.AtomicReference<String> wrong = new java.util.concurrent.atomic.AtomicReference<>();
        for (int i = 0; i < threads; i++) {
            ts[i] = new Thread(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int round = 0; round < 200_000; round++) {
                    long key = round % 1000;
                    Backend want = key % 2 == 0 ? a : b;
                    t.record(key, want, round);
                    Backend got = t.lookup(key, round);
                    if (got != null && got != want) {
                        wrong.set("key " + key + " -> " + got);
                    }
                }
            });
            ts[i].start();
        }
        go.countDown();
        for (Thread th : ts) {
            th.join(TimeUnit.SECONDS.toMillis(30));
        }
        assertNull(wrong.get());
    }
}
