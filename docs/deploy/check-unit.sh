#!/usr/bin/env bash
# Runs docs/deploy/nioproxy.service under a real systemd (252, Debian 12) as PID 1 of a systemd-nspawn container, and
# checks what the unit promises: Type=notify start, `systemctl reload` as a take-over under open sessions (twice),
# a reload with a broken settings file that fails and changes nothing, a graceful stop after a reload, and a restart
# when a reloaded main process is killed. Needs root, debootstrap and systemd-container (installed if missing), the
# Debian mirror, a JDK 22+ and the built jar. Loopback only (the container shares the host's network).
# usage: docs/deploy/check-unit.sh        from the project root, after mvn package; ROOTFS=dir reuses a rootfs
set -euo pipefail
JDK=${JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}; JAR=${JAR:-proxy-core/target/nioproxy.jar}
R=${ROOTFS:-/tmp/nioproxy-unit-rootfs}; LISTEN=127.0.0.1:18080; BACKEND=18081
command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null \
  || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd-container debootstrap >/dev/null
if [ ! -x "$R/usr/lib/systemd/systemd" ]; then
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$R" http://deb.debian.org/debian >/dev/null
fi
mkdir -p "$R/opt/nioproxy" "$R/etc/nioproxy"
rm -rf "$R/opt/jdk"; cp -a "$JDK" "$R/opt/jdk"; cp "$JAR" "$R/opt/nioproxy/nioproxy.jar"
chroot "$R" id nioproxy >/dev/null 2>&1 || chroot "$R" useradd --system --no-create-home nioproxy
sed 's#/usr/bin/java#/opt/jdk/bin/java#g' docs/deploy/nioproxy.service > "$R/etc/systemd/system/nioproxy.service"
good="proxy.listen=$LISTEN
proxy.backends=127.0.0.1:$BACKEND"
echo "$good" > "$R/etc/nioproxy/nioproxy.properties"; chmod 644 "$R/etc/nioproxy/nioproxy.properties"
work=$(mktemp -d)
python3 - "$BACKEND" > /dev/null 2>&1 <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(128)
def echo(c):
    while (d := c.recv(65536)):
        c.sendall(d)
while True:
    threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
PY
echo_pid=$!
systemd-nspawn -D "$R" --register=no --keep-unit --resolv-conf=off --boot > "$work/console.log" 2>&1 &
nspawn=$!
cleanup() { [ -n "${init:-}" ] && nsenter -t "$init" -a systemctl poweroff >/dev/null 2>&1; sleep 3
            kill "$nspawn" "$echo_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do
  init=$(pgrep -P "$(pgrep -P "$nspawn" | head -1)" 2>/dev/null | head -1 || true)
  [ -n "$init" ] && nsenter -t "$init" -a systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded' && break
  sleep 0.3
done
ct() { nsenter -t "$init" -a "$@"; }
main() { ct systemctl show -p MainPID --value nioproxy; }
ok() { echo "ok: $*"; }
ct systemctl daemon-reload
ct systemctl start nioproxy && ok "start: $(ct systemctl show -p ActiveState --value nioproxy), main $(main) (READY=1)"
cat > "$work/sessions.py" <<'PY'
import os, socket, sys, time
host, port = sys.argv[1].split(':'); socks = [socket.create_connection((host, int(port))) for _ in range(20)]
n = 0
while not os.path.exists(sys.argv[2]):
    for i, s in enumerate(socks):
        m = b'%d %d\n' % (n, i); s.sendall(m); s.settimeout(5)
        got = b''
        while len(got) < len(m):
            got += s.recv(len(m) - len(got))
        assert got == m, (got, m)
    n += 1; time.sleep(0.05)
print('%d rounds echoed in order on all 20 sessions' % n)
PY
python3 "$work/sessions.py" "$LISTEN" "$work/stop" > "$work/sessions.out" 2>&1 &
sessions=$!
sleep 2
for r in 1 2; do
  before=$(main); ct systemctl reload nioproxy
  for _ in $(seq 100); do [ "$(main)" != "$before" ] && break; sleep 0.2; done
  [ "$(main)" != "$before" ] && ok "reload $r: main $before -> $(main), $(ct systemctl show -p ActiveState --value nioproxy)"
  sleep 3
done
echo "proxy.balance=nearest" >> "$R/etc/nioproxy/nioproxy.properties"
before=$(main)
if ct systemctl reload nioproxy 2>/dev/null; then echo "FAIL: a broken file reloaded"; exit 1; fi
ok "broken reload refused: main still $(main) (was $before), $(ct systemctl show -p ActiveState --value nioproxy)"
echo "$good" > "$R/etc/nioproxy/nioproxy.properties"
touch "$work/stop"; wait "$sessions"; ok "sessions: $(cat "$work/sessions.out")"
ct systemctl stop nioproxy
ok "stop after reloads: $(ct systemctl show -p Result --value nioproxy); 'nioproxy stopped' (the paced shutdown's end)\
 logged $(ct journalctl -b -u nioproxy --no-pager | grep -c 'nioproxy stopped') times: the two processes taken over, and the last"
ct systemctl start nioproxy; ct systemctl reload nioproxy; sleep 8
killed=$(main); ct kill -9 "$killed"; sleep 4
ok "reloaded main $killed killed: restarts $(ct systemctl show -p NRestarts --value nioproxy), now $(ct systemctl show -p ActiveState --value nioproxy)"
ct journalctl -b -u nioproxy --no-pager | grep -E "MAINPID|Supervising|Reload failed|balance=nearest" | cut -c1-160
