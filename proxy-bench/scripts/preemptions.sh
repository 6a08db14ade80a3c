#!/usr/bin/env bash
# How often a proxy's event-loop thread loses its core to another runnable thread, and the latency tail that goes
# with it, on the yardstick's keep-alive load (wrk, 64 connections, on CPU 0; the proxy pinned to CPU 1 by
# ../shared/bench/peers.sh), timed as bench.py times it (2 s of warm-up load, then the measured window).
# Per run: wrk's percentiles (a Lua summary adds p99.9 and the maximum) and, for the proxy's threads that ran in the
# window, CPU ticks, voluntary switches (sleeps) and involuntary ones (preempted while runnable). Used to measure
# proxy.background.nice (docs/configuration.md): run the same build with and without, alternately, e.g.
#   OURS_JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java preemptions.sh ours ours:0 haproxy ours ours:0 haproxy
# NAME is haproxy | nginx | ours; ours:N starts ours with -Dproxy.background.nice=N (through JAVA_TOOL_OPTIONS).
# Needs the yardstick set up and its backends running (../shared/bench/backends.sh start). Run from the project root.
set -eu
declare -A BASE=([haproxy]=19000 [nginx]=19100 [ours]=19200)
SECS=${SECS:-10}
lua=$(mktemp --suffix=.lua)
trap 'rm -f "$lua"' EXIT
cat > "$lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("requests/s %d  p50 %d  p90 %d  p99 %d  p99.9 %d  max %d us\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
LUA
threads() { # tid name utime+stime voluntary involuntary, for every thread of process $1
  for t in /proc/"$1"/task/*; do
    stat=$(cat "$t/stat" 2>/dev/null) || continue
    rest=${stat##*) }; read -r -a f <<< "$rest"
    printf '%s|%s|%d|%s|%s\n' "${t##*/}" "$(cat "$t/comm")" $((f[11] + f[12])) \
      "$(awk '/^voluntary/ {print $2}' "$t/status")" "$(awk '/^nonvoluntary/ {print $2}' "$t/status")"
  done
}
for arg in "$@"; do
  name=${arg%%:*}; nice=""; [ "$arg" != "$name" ] && nice=${arg#*:}
  base=${BASE[$name]}; url=http://127.0.0.1:$((base + 1))/
  if [ -n "$nice" ]; then
    JAVA_TOOL_OPTIONS="-Dproxy.background.nice=$nice" ../shared/bench/peers.sh start "$name" "$base" >/dev/null 2>&1
  else
    ../shared/bench/peers.sh start "$name" "$base" >/dev/null
  fi
  pid=$(cat "${BENCH_RUN:-/tmp/lbbench}/$name.pid")
  taskset -c 0 wrk -t1 -c64 -d2s "$url" >/dev/null # warm-up, as bench.py
  before=$(threads "$pid")
  out=$(taskset -c 0 wrk -t1 -c64 -d"${SECS}s" -s "$lua" "$url" | grep '^requests/s')
  after=$(threads "$pid")
  ../shared/bench/peers.sh stop "$name" "$base"
  echo "$arg  $out"
  awk -F'|' 'NR == FNR {c[$1] = $3; v[$1] = $4; n[$1] = $5; next}
    {dc = $3 - c[$1]; dv = $4 - v[$1]; dn = $5 - n[$1]
     if (dc > 0 || dn > 0) printf "    %-16s cpu ticks %4d  sleeps %6d  preempted %5d\n", $2, dc, dv, dn}' \
    <(echo "$before") <(echo "$after")
done
