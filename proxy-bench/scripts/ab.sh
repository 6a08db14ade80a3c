#!/usr/bin/env bash
# A/B of two builds (or two JVMs / property sets) of the balancer, alternating rounds, pinned as the yardstick pins:
# the proxy on CPU ${PROXY_CPU:-1}, wrk on CPU ${LOAD_CPU:-0}. Prints user and system CPU per new connection
# (wrk with 'Connection: close') and per keep-alive request, per round, so a change is judged against the noise.
# usage: proxy-bench/scripts/ab.sh "A_CMD" "B_CMD" [rounds]   where *_CMD is the java command line up to -jar JAR,
# e.g. ab.sh "java -jar /tmp/a.jar" "java -jar proxy-core/target/nioproxy.jar"
# Needs the yardstick backends (../shared/bench/backends.sh start). Run from the project root.
set -u
TICK=$(getconf CLK_TCK); A=$1; B=$2; ROUNDS=${3:-4}; SECS=${SECS:-6}
PROPS="-Xms512m -Xmx512m -Dproxy.workers=1 -Dproxy.listen=127.0.0.1:19300 -Dproxy.backends=127.0.0.1:18081,127.0.0.1:18082,127.0.0.1:18083"
cpu() { awk '{print $14, $15}' /proc/$1/stat; }
measure() { # pid label wrk-args...
  local pid=$1 label=$2; shift 2
  read u0 s0 < <(cpu $pid)
  local out; out=$(taskset -c ${LOAD_CPU:-0} wrk -t1 -c64 -d${SECS}s "$@" http://127.0.0.1:19300/)
  read u1 s1 < <(cpu $pid)
  local req; req=$(echo "$out" | grep -oE '[0-9]+ requests in' | cut -d' ' -f1)
  python3 -c "print('  %-5s user %6.1f  sys %6.1f  total %6.1f us/%s' % ('$label', ($u1-$u0)/$TICK*1e6/$req, ($s1-$s0)/$TICK*1e6/$req, ($u1-$u0+$s1-$s0)/$TICK*1e6/$req, '$label'))"
}
for round in $(seq 1 $ROUNDS); do
  for which in A B; do
    cmd=${!which}; cmd=${cmd/ -jar / $PROPS -jar }
    taskset -c ${PROXY_CPU:-1} $cmd >/tmp/ab-$which.log 2>&1 &
    pid=$!
    for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/19300) 2>/dev/null && break; sleep 0.2; done
    taskset -c ${LOAD_CPU:-0} wrk -t1 -c64 -d2s -H 'Connection: close' http://127.0.0.1:19300/ >/dev/null 2>&1
    echo "round $round $which"
    measure $pid conn -H 'Connection: close'
    measure $pid req
    kill $pid; wait $pid 2>/dev/null
  done
done
