#!/usr/bin/env bash
# What a proxy costs the cores around it, on the yardstick's WebSocket load (100 clients ping-pong 64-byte messages,
# the 'ws' library on CPU 0; the proxy pinned to CPU 1 by ../shared/bench/peers.sh). Per message round trip: the load
# core's CPU (and its softirq share), the proxy core's CPU, and the proxy's voluntary context switches (sleeps: each
# one is a wake-up some other core pays for). Used to measure proxy.loop.spin (docs/architecture.md, idle strategy).
# usage: proxy-bench/scripts/wakeups.sh NAME [NAME...]    NAME: haproxy | nginx | ours
#   e.g. OURS_JAVA="/usr/lib/jvm/temurin-25-jdk-amd64/bin/java -Dproxy.loop.spin=16" wakeups.sh haproxy ours
# Needs the yardstick set up and its backends running (../shared/bench/backends.sh start). Run from the project root.
set -eu
declare -A BASE=([haproxy]=19000 [nginx]=19100 [ours]=19200)
export NODE_PATH=${BENCH_RUN:-/tmp/lbbench}/node_modules
SECS=${SECS:-6}
cpu_ticks() { awk -v c="cpu$1" '$1==c {print $2+$3+$4+$7+$8, $7+$8}' /proc/stat; } # busy, irq+softirq
sleeps() { # voluntary context switches of every thread of the proxy's process tree
  local pids="$1 $(pgrep -P "$1" || true)"; for k in $(pgrep -P "$1" || true); do pids+=" $(pgrep -P "$k" || true)"; done
  for p in $pids; do cat /proc/"$p"/task/*/status 2>/dev/null; done | awk '$1=="voluntary_ctxt_switches:" {s+=$2} END {print s+0}'
}
for name in "$@"; do
  base=${BASE[$name]}; ws=ws://127.0.0.1:$((base + 2))/
  ../shared/bench/peers.sh start "$name" "$base" >/dev/null
  pid=$(cat "${BENCH_RUN:-/tmp/lbbench}/$name.pid")
  taskset -c 0 node ../shared/bench/ws-load.js pingpong "$ws" 100 2 64 >/dev/null # warm-up
  read -r l0 ls0 < <(cpu_ticks 0); read -r p0 _ < <(cpu_ticks 1); s0=$(sleeps "$pid")
  out=$(taskset -c 0 node ../shared/bench/ws-load.js pingpong "$ws" 100 "$SECS" 64 | tail -1)
  read -r l1 ls1 < <(cpu_ticks 0); read -r p1 _ < <(cpu_ticks 1); s1=$(sleeps "$pid")
  ../shared/bench/peers.sh stop "$name" "$base"
  python3 - "$name" "$out" "$((l1 - l0))" "$((ls1 - ls0))" "$((p1 - p0))" "$((s1 - s0))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
name, out, load, soft, proxy, sleeps, tick = sys.argv[1], json.loads(sys.argv[2]), *map(int, sys.argv[3:])
m = out['msgs']; us = lambda t: round(t / tick * 1e6 / m, 1)
print(json.dumps({'proxy': name, 'msg_s': out['rate'], 'p50_us': out['p50_us'], 'p99_us': out['p99_us'],
                  'load_core_us_per_msg': us(load), 'load_core_softirq_us_per_msg': us(soft),
                  'proxy_core_us_per_msg': us(proxy), 'proxy_sleeps_per_msg': round(sleeps / m, 3)}))
PY
done
