package io.nioproxy.loop;

import io.nioproxy.buffer.BufferPool;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EventLoopTest {
    @Test
    void tasksFromManyThreadsAllRunOnTheLoopThreadInProducerOrder() throws Exception {
        EventLoop loop = new EventLoop(7, new BufferPool(1024, 4096), null, io.nioproxy.transport.nio.NioTransport.INSTANCE, 0);
        loop.start();
        try {
            int producers = 4;
            int perProducer = 10_000;
            List<Integer>[] seen = new List[producers];
            CountDownLatch done = new CountDownLatch(producers * perProducer);
            AtomicReference<String> wrongThread = new AtomicReference<>();
            for (int p = 0; p < producers; p++) {
                seen[p] = Collections.synchronizedList(new ArrayList<>());
            }
            Thread[] threads = new Thread[producers];
            for (int p = 0; p < producers; p++) {
                int id = p;
                threads[p] = new Thread(() -> {
                    for (int i = 0; i < perProducer; i++) {
                        int n = i;
                        loop.execute(l -> {
                            if (!l.inLoop()) {
                                wrongThread.set(Thread.currentThread().getName());
                            }
                            seen[id].add(n);
                            done.countDown();
                        });
                    }
                });
                threads[p].start();
            }
            assertTrue(done.await(20, TimeUnit.SECONDS), "every task ran");
            assertEquals(null, wrongThread.get());
            for (int p = 0; p < producers; p++) {
                for (int i = 0; i < perProducer; i++) {
                    assertEquals(i, seen[p].get(i));
                }
            }
        } finally {
            loop.close();
        }
        assertFalse(loop.execute(l -> { }), "a stopped loop refuses work");
    }

    @Test
    void aBlockedLoopWakesForATask() throws Exception {
        EventLoop loop = new EventLoop(8, new BufferPool(1024, 4096), null, io.nioproxy.transport.nio.NioTransport.INSTANCE, 0);
        loop.start();
        try {
            Thread.sleep(50); // the loop is now blocked in select (up to 1 s)
            CountDownLatch ran = new CountDownLatch(1);
            long start = System.nanoTime();
            loop.execute(l -> ran.countDown());
            assertTrue(ran.await(5, TimeUnit.SECONDS));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(ms < 500, "woke after " + ms + " ms");
        } finally {
            loop.close();
        }
    }
}
