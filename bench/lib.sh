# Sourced by bench/run and bench/jmh: picks the JDK and builds the launcher and the bench module
# when their outputs are missing or older than any source or pom (package only, never install).
# BENCH_MVN_FLAGS adds Maven flags, e.g. -o.
bench_build() {
  local root="$1" out stale=""
  . "$root/.ci/jdk.sh"
  for out in "$root/cli/target/modelcache.jar" "$root/bench/target/classpath.txt"; do
    if [ ! -f "$out" ] || [ -n "$(find "$root/pom.xml" "$root"/*/pom.xml "$root"/*/src -newer "$out" -print -quit 2>/dev/null)" ]; then
      stale=1
    fi
  done
  if [ -n "$stale" ] || [ ! -x "$root/cli/target/modelcache" ]; then
    echo "==> building (mvn -DskipTests package -pl cli,bench -am)" >&2
    (cd "$root" && mvn -B -ntp -q ${BENCH_MVN_FLAGS:-} -DskipTests package -pl cli,bench -am) >&2
  fi
}
