#!/usr/bin/env bash
# Bulk relay cost (CPU seconds per GiB, iperf3 4 GiB through the jar pinned to CPU 1) for several buffer sizes.
# Needs the yardstick backends running (iperf3 on 127.0.0.1:15201) and the jar built. BUFS="16k 64k" to choose.
TICK=$(getconf CLK_TCK)
for buf in ${BUFS:-16k 64k}; do
  taskset -c 1 java -Xms512m -Xmx512m -Dproxy.workers=1 -Dproxy.buffer.size=$buf -Dproxy.listen=127.0.0.1:19303 \
    -Dproxy.backends=127.0.0.1:15201 $EXTRA -jar proxy-core/target/nioproxy.jar >/tmp/bulk.log 2>&1 &
  pid=$!; sleep 1.5
  taskset -c 0 iperf3 -c 127.0.0.1 -p 19303 -n 1G >/dev/null
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  gbps=$(taskset -c 0 iperf3 -c 127.0.0.1 -p 19303 -n 4G -J | python3 -c "import json,sys; j=json.load(sys.stdin); print(round(j['end']['sum_received']['bits_per_second']/1e9,2))")
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  python3 -c "print('buf $buf: %.3f s/GiB, %s Gbit/s' % (($c1-$c0)/$TICK/4, '$gbps'))"
  kill $pid; wait $pid 2>/dev/null
done
