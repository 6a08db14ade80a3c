#!/usr/bin/env bash
# Compares proxy.accept=reuseport and acceptor with two workers: CPU per new connection and per keep-alive request.
# Needs the yardstick backends running (../shared/bench/backends.sh start) and the jar built. Run from the project root.
set -u
TICK=$(getconf CLK_TCK)
for round in 1 2 3 4 5; do
for mode in reuseport acceptor; do
  java -Xms512m -Xmx512m -Dproxy.workers=2 -Dproxy.accept=$mode -Dproxy.listen=127.0.0.1:19300 \
    -Dproxy.backends=127.0.0.1:18081,127.0.0.1:18082,127.0.0.1:18083 -jar proxy-core/target/nioproxy.jar >/tmp/acc-$mode.log 2>&1 &
  pid=$!
  sleep 1.5
  wrk -t1 -c64 -d3s -H 'Connection: close' http://127.0.0.1:19300/ >/dev/null 2>&1   # warm-up
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(wrk -t1 -c64 -d8s -H 'Connection: close' http://127.0.0.1:19300/)
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  req=$(echo "$out" | grep -oE '[0-9]+ requests in' | cut -d' ' -f1)
  kc0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out2=$(wrk -t1 -c64 -d8s http://127.0.0.1:19300/)
  kc1=$(awk '{print $14+$15}' /proc/$pid/stat)
  req2=$(echo "$out2" | grep -oE '[0-9]+ requests in' | cut -d' ' -f1)
  python3 -c "print('round $round $mode: conn/s=%d cpu_us_per_conn=%.1f | keepalive req/s=%d cpu_us_per_req=%.2f' % ($req/8, ($c1-$c0)/$TICK*1e6/$req, $req2/8, ($kc1-$kc0)/$TICK*1e6/$req2))"
  kill $pid; wait $pid 2>/dev/null
done; done
