#!/usr/bin/env bash
# The soak's long run: SoakTest for SECONDS (default 600) in one I/O mode — JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java
# for epoll mode (JDK 22+), the default java for java.nio mode on JDK 17 — then a chart of its samples.
# usage: proxy-bench/scripts/soak.sh [SECONDS]      from the project root, after 'mvn -q -DskipTests install'
# The balancer runs in a child JVM (CHILD=false: in the test's JVM, as the suite runs it), so that RSS and
# descriptors are its own. Output: proxy-core/target/soak-MODE.csv and soak-MODE.svg (sessions, RSS, descriptors and
# pooled buffers over time).
set -euo pipefail
secs=${1:-600}
jvm=()
if [ -n "${JAVA:-}" ]; then jvm=(-Djvm="$JAVA"); fi
mvn -B -q -o -pl proxy-core surefire:test -Dtest=SoakTest -Dnioproxy.soak.seconds="$secs" -Dnioproxy.soak.ws="${WS:-true}" -Dnioproxy.soak.child="${CHILD:-true}" "${jvm[@]}" \
  -Dsurefire.failIfNoSpecifiedTests=false | grep -E "soak |Tests run|FAIL" || true
csv=$(ls -t proxy-core/target/soak-*.csv | head -1) # this run's
python3 proxy-bench/scripts/soak-chart.py "$csv" "${csv%.csv}.svg"
