#!/usr/bin/env bash
# Kernel events a proxy causes per proxied connection, on the yardstick's `Connection: close` load (wrk, 64
# connections, on CPU 0; the proxy pinned to CPU 1 by ../shared/bench/peers.sh), or per request on its keep-alive
# load with LOAD=rr: wake-ups it performs
# (sched:sched_waking in its threads: each is a sleeping peer woken, on loopback the costliest part of a send),
# its context switches (sched:sched_switch: mostly its own sleeps), and its system calls. Counts, not times: they hold on a noisy machine.
# usage: proxy-bench/scripts/conn-events.sh NAME [NAME...]    NAME: haproxy | nginx | ours
#   e.g. OURS_JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java conn-events.sh haproxy ours
# Needs the yardstick set up and its backends running (../shared/bench/backends.sh start). Run from the project root.
set -eu
declare -A BASE=([haproxy]=19000 [nginx]=19100 [ours]=19200)
SECS=${SECS:-5}
LOAD=${LOAD:-conn}; hdr=(-H 'Connection: close'); [ "$LOAD" = rr ] && hdr=()
for name in "$@"; do
  base=${BASE[$name]}; url=http://127.0.0.1:$((base + 1))/
  ../shared/bench/peers.sh start "$name" "$base" >/dev/null
  pid=$(cat "${BENCH_RUN:-/tmp/lbbench}/$name.pid")
  pids=$(pgrep -P "$pid" | tr '\n' ',')$pid # and its children, should OURS_CMD start it under a wrapper
  sleep 1
  taskset -c 0 wrk -t1 -c64 -d2s "${hdr[@]}" "$url" >/dev/null # warm-up
  stat=$(mktemp)
  perf stat -x, -o "$stat" -e 'sched:sched_waking,sched:sched_switch,raw_syscalls:sys_enter' -p "$pids" \
      -- taskset -c 0 wrk -t1 -c64 -d"${SECS}s" "${hdr[@]}" "$url" > "$stat.wrk"
  ../shared/bench/peers.sh stop "$name" "$base"
  conns=$(awk '/requests in/ {print $1}' "$stat.wrk")
  unit=connection; [ "$LOAD" = rr ] && unit=request
  awk -F, -v n="$name" -v c="$conns" -v u="$unit" '$3 ~ /sched|sys_enter/ {v[$3]=$1}
    END {printf "%-8s %d %ss  per %s: wake-ups %.2f  context switches %.2f  system calls %.2f\n", n, c, u, u,
         v["sched:sched_waking"]/c, v["sched:sched_switch"]/c, v["raw_syscalls:sys_enter"]/c}' "$stat"
  rm -f "$stat" "$stat.wrk"
done
