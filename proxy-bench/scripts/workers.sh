#!/usr/bin/env bash
# Keep-alive requests/s and CPU per request with proxy.workers=1 and =2 (unpinned: on this 2-core machine the load
# generator and the backends share the same two cores). Needs the yardstick backends and the jar. From the project root.
# JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java for epoll mode.
set -u
TICK=$(getconf CLK_TCK)
for round in 1 2 3; do
for w in 1 2; do
  ${JAVA:-java} -Xms512m -Xmx512m -Dproxy.workers=$w -Dproxy.listen=127.0.0.1:19310 \
    -Dproxy.backends=127.0.0.1:18081,127.0.0.1:18082,127.0.0.1:18083 -jar proxy-core/target/nioproxy.jar >/tmp/workers.log 2>&1 &
  pid=$!; for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/19310) 2>/dev/null && break; sleep 0.2; done
  wrk -t2 -c64 -d3s http://127.0.0.1:19310/ >/dev/null 2>&1
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(wrk -t2 -c64 -d8s http://127.0.0.1:19310/)
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  req=$(echo "$out" | grep -oE '[0-9]+ requests in' | cut -d' ' -f1)
  python3 -c "print('round $round workers=$w: req/s=%d cpu_us_per_req=%.2f proxy_cores_used=%.2f' % ($req/8, ($c1-$c0)/$TICK*1e6/$req, ($c1-$c0)/$TICK/8))"
  kill $pid; wait $pid 2>/dev/null
done; done
