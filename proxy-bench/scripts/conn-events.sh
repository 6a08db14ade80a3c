#!/usr/bin/env bash
# Kernel events a proxy causes per proxied connection, on the yardstick's `Connection: close` load (wrk, 64
# connections, on CPU 0; the proxy pinned to CPU 1 by ../shared/bench/peers.sh), or per request on its keep-alive
# load with LOAD=rr: wake-ups it performs
# (sched:sched_waking in its threads: each is a sleeping peer woken, on loopback the costliest part of a send),
# its context switches (sched:sched_switch: mostly its own sleeps), and its system calls; then the TCP segments on
# loopback (from /proc/net/snmp and /proc/net/netstat: every segment of the load, the proxy's two legs and the
# backends' alike, so compare proxies, not absolute counts) and the data-carrying ones among them (a FIN counts as
# data), and the proxy's user and system CPU per unit from /proc (ticks: a time, unlike the rest, so noisy).
# Counts, not times: they hold on a noisy machine.
set -eu
declare -A BASE=([haproxy]=19000 [nginx]=19100 [ours]=19200)
SECS=${SECS:-5}
LOAD=${LOAD:-conn}; hdr=(-H 'Connection: close'); [ "$LOAD" = rr ] && hdr=()
tick=$(getconf CLK_TCK)
# every TCP counter of the network namespace, "Group:Name value", sorted for join
tcp() { awk 'NR%2==1 {split($0, h)} NR%2==0 {for (i = 2; i <= NF; i++) print h[1] h[i], $i}' /proc/net/snmp /proc/net/netstat | sort; }
for name in "$@"; do
  base=${BASE[$name]}; url=http://127.0.0.1:$((base + 1))/
  ../shared/bench/peers.sh start "$name" "$base" >/dev/null
  pid=$(cat "${BENCH_RUN:-/tmp/lbbench}/$name.pid")
  pids=$(pgrep -P "$pid" | tr '\n' ',')$pid # and its children, should OURS_CMD start it under a wrapper
  sleep 1
  taskset -c 0 wrk -t1 -c64 -d2s "${hdr[@]}" "$url" >/dev/null # warm-up
  stat=$(mktemp)
  tcp > "$stat.tcp0"; read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  perf stat -x, -o "$stat" -e 'sched:sched_waking,sched:sched_switch,raw_syscalls:sys_enter' -p "$pids" \
      -- taskset -c 0 wrk -t1 -c64 -d"${SECS}s" "${hdr[@]}" "$url" > "$stat.wrk"
  tcp > "$stat.tcp1"; read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  ../shared/bench/peers.sh stop "$name" "$base"
  conns=$(awk '/requests in/ {print $1}' "$stat.wrk")
  unit=connection; [ "$LOAD" = rr ] && unit=request
  segs=$(join "$stat.tcp0" "$stat.tcp1" | awk -v c="$conns" '$1 == "Tcp:OutSegs" {o = $3 - $2}
    $1 == "TcpExt:TCPOrigDataSent" {d = $3 - $2} END {printf "TCP segments %.2f (with data or FIN %.2f)", o / c, d / c}')
  awk -F, -v n="$name" -v c="$conns" -v u="$unit" -v segs="$segs" \
      -v usr="$(( u1 - u0 ))" -v sys="$(( s1 - s0 ))" -v tick="$tick" '$3 ~ /sched|sys_enter/ {v[$3]=$1}
    END {printf "%-8s %d %ss  per %s: wake-ups %.2f  context switches %.2f  system calls %.2f  %s  CPU user %.1f sys %.1f us\n",
         n, c, u, u, v["sched:sched_waking"]/c, v["sched:sched_switch"]/c, v["raw_syscalls:sys_enter"]/c, segs,
         usr / tick * 1e6 / c, sys / tick * 1e6 / c}' "$stat"
  rm -f "$stat" "$stat.wrk" "$stat.tcp0" "$stat.tcp1"
done
