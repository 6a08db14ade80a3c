#!/usr/bin/env bash
# What routing by TLS server name costs the balancer per connection: CPU of the balancer (pinned to CPU 1, one
# worker) per TLS connection through a listener with proxy.sni.routes (to a pool) against the same listener without
# routes, alternating, same TLS backend (OpenSSL's s_server) and the same client (Python's ssl: a full handshake
# with SNI, one byte each way, close), both on CPU 0.
# usage: proxy-bench/scripts/sni-cost.sh [rounds] [connections]    from the project root, after mvn package
set -eu
ROUNDS=${1:-4}; N=${2:-1500}; JAVA=${JAVA:-java}; JAR=${JAR:-proxy-core/target/nioproxy.jar}
TICK=$(getconf CLK_TCK)
dir=$(mktemp -d)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/k.pem" -out "$dir/c.pem" \
  -days 1 -subj /CN=a.example.com 2>/dev/null
taskset -c 0 openssl s_server -accept 127.0.0.1:19443 -cert "$dir/c.pem" -key "$dir/k.pem" -quiet -rev \
  >/dev/null 2>&1 </dev/null &
backend=$!
trap 'kill $backend 2>/dev/null; rm -rf "$dir"' EXIT
cat > "$dir/client.py" <<'PY'
import socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for i in range(n):
    with socket.create_connection(('127.0.0.1', port)) as raw:
        with ctx.wrap_socket(raw, server_hostname='a.example.com') as s:
            s.sendall(b'x\n'); s.recv(16)
PY
BASE="-Xms256m -Xmx256m -Dproxy.workers=1 -Dproxy.listen=127.0.0.1:19444"
PLAIN="-Dproxy.backends=127.0.0.1:19443"
SNI="-Dproxy.pools=tls -Dproxy.pool.tls.backends=127.0.0.1:19443 -Dproxy.sni.routes=a.example.com=tls -Dproxy.sni.default=tls"
for round in $(seq 1 "$ROUNDS"); do
  for which in PLAIN SNI; do
    taskset -c 1 $JAVA $BASE ${!which} -jar "$JAR" >"$dir/$which.log" 2>&1 &
    pid=$!
    for i in $(seq 1 150); do (exec 3<>/dev/tcp/127.0.0.1/19444) 2>/dev/null && break; sleep 0.2; done
    taskset -c 0 python3 "$dir/client.py" 19444 "${WARM:-300}"   # warm: the JIT compiles the hello path
    read u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
    taskset -c 0 python3 "$dir/client.py" 19444 "$N"
    read u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
    python3 -c "print('round $round %-5s %6.1f us of balancer CPU per TLS connection (user %5.1f, sys %5.1f)' % ('$which', ($u1-$u0+$s1-$s0)/$TICK*1e6/$N, ($u1-$u0)/$TICK*1e6/$N, ($s1-$s0)/$TICK*1e6/$N))"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
