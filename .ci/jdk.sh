# Sourced by the .ci scripts: exports JAVA_HOME as a JDK 25+ (JAVA_HOME if it is one, else the newest
# in /usr/lib/jvm), or fails with a clear message.
_mc_jdk_major() {
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] && [ -r "$1/release" ] || return 0
  sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release"
}
_mc_pick_jdk() {
  local c m
  for c in "${JAVA_HOME:-}" $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sed 's:/$::' | sort -rV); do
    [ -n "$c" ] || continue
    m="$(_mc_jdk_major "$c")"
    if [ -n "$m" ] && [ "$m" -ge 25 ]; then echo "$c"; return; fi
  done
}
_mc_home="$(_mc_pick_jdk)"
if [ -z "$_mc_home" ]; then
  echo "modelcache: no JDK 25 or newer found (looked at \$JAVA_HOME and /usr/lib/jvm/*); ModelCache needs JDK 25 (the FFM API): install Eclipse Temurin 25 (package temurin-25-jdk from Adoptium's Debian repository) or set JAVA_HOME to a JDK 25." >&2
  exit 2
fi
export JAVA_HOME="$_mc_home"
export PATH="$JAVA_HOME/bin:$PATH"
# Maven's own guava warns about sun.misc.Unsafe on JDK 24+; that noise is not ours.
if [ "$(_mc_jdk_major "$JAVA_HOME")" -ge 24 ]; then
  export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
fi
