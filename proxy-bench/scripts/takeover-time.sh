#!/usr/bin/env bash
# How long a take-over of N idle sessions takes (default 8,000: 16,000 descriptors in each balancer, the most this
# machine's 20,000 allow), and the longest any one session is frozen: a balancer (JDK 22+, epoll mode) relays N idle
# TCP sessions to an echo server; a second process takes over; both balancers log the take-over; a sample of
# sessions is checked to echo afterwards. Prints the old process's 'moved ... sessions in ... ms' line.
# With RELOAD=1 each round is a reload instead: SIGHUP to the running process, which starts its successor from its own
# command line (the JVM start included in the time printed, from the signal to the new process's 'complete').
# usage: [RELOAD=1] proxy-bench/scripts/takeover-time.sh [sessions] [rounds]   from the project root, after mvn package
set -eu
N=${1:-8000}; ROUNDS=${2:-3}; JAVA=${JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}; JAR=${JAR:-proxy-core/target/nioproxy.jar}
dir=$(mktemp -d); ulimit -n 20000
cat > "$dir/echo.py" <<'PY'
import selectors, socket
sel = selectors.DefaultSelector(); s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 19801)); s.listen(4096); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
while True:
    for k, _ in sel.select():
        if k.fileobj is s:
            c, _ = s.accept(); c.setblocking(False); sel.register(c, selectors.EVENT_READ)
        else:
            try:
                d = k.fileobj.recv(65536)
            except OSError:
                d = b''
            if d:
                k.fileobj.sendall(d)
            else:
                sel.unregister(k.fileobj); k.fileobj.close()
PY
cat > "$dir/clients.py" <<'PY'
import socket, sys, time, os
n = int(sys.argv[1]); socks = []
for i in range(n):
    socks.append(socket.create_connection(('127.0.0.1', 19800)))
for s in socks[::max(1, n // 50)]:
    s.sendall(b'x'); assert s.recv(1) == b'x'
print('open', n, flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
bad = 0
for s in socks[::max(1, n // 200)]:
    s.settimeout(5); s.sendall(b'y')
    bad += s.recv(1) != b'y'
print('checked', len(socks[::max(1, n // 200)]), 'sessions after the take-over,', bad, 'failed', flush=True)
PY
python3 "$dir/echo.py" & echo_pid=$!
trap 'kill $echo_pid 2>/dev/null; pkill -f "takeover.socket=$dir" 2>/dev/null; rm -rf "$dir"' EXIT
P="-Xms512m -Xmx512m -Dproxy.warmup=0 -Dproxy.listen=127.0.0.1:19800 -Dproxy.backends=127.0.0.1:19801 -Dproxy.takeover.socket=$dir/t.sock -Dproxy.shutdown.timeout=1s -Dproxy.shutdown.pace=1s"
$JAVA --enable-native-access=ALL-UNNAMED $P -jar "$JAR" > "$dir/b0.log" 2>&1 &
main=$!
sleep 3
python3 "$dir/clients.py" "$N" "$dir/done" > "$dir/clients.out" 2>&1 &
until grep -q open "$dir/clients.out" 2>/dev/null; do sleep 0.2; done
if [ "${RELOAD:-0}" = 1 ]; then
  # successors write where the first process writes: every line is in b0.log
  for r in $(seq 1 "$ROUNDS"); do
    before=$(grep -c "take-over: complete" "$dir/b0.log" || true)
    t0=$(date +%s%N); kill -HUP "$main"
    until [ "$(grep -c "take-over: complete" "$dir/b0.log" || true)" -gt "$before" ]; do sleep 0.02; done
    t1=$(date +%s%N)
    main=$(grep -o "SIGHUP: reload: process [0-9]*" "$dir/b0.log" | tail -1 | awk '{print $4}')
    echo "reload $r: SIGHUP to take-over complete in $(( (t1 - t0) / 1000000 )) ms;" \
      "$(grep -h "moved .* sessions in" "$dir/b0.log" | tail -1 | sed 's/.*take-over: //')"
    sleep 3
  done
  touch "$dir/done"; sleep 3; cat "$dir/clients.out"; exit 0
fi
for r in $(seq 1 "$ROUNDS"); do
  $JAVA --enable-native-access=ALL-UNNAMED $P -jar "$JAR" --takeover > "$dir/b$r.log" 2>&1 &
  until grep -q "take-over: complete" "$dir/b$r.log" 2>/dev/null; do sleep 0.1; done
  grep -h "moved .* sessions in" "$dir/b$((r - 1)).log" | sed 's/.*take-over: //'
  sleep 2
done
touch "$dir/done"; sleep 3; cat "$dir/clients.out"
