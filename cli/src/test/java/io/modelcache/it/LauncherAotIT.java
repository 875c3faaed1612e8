package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client's AOT cache (modelcache.aot, made by the build on JDK 25+): the launcher uses it when it
 * fits, and whatever is wrong with it, a command still runs and prints exactly what it would without.
 */
class LauncherAotIT {
  @TempDir Path tmp;
  Path dir;

  @BeforeEach
  void copyLauncher() throws IOException {
    Path built = Cli.launcher().toAbsolutePath().getParent();
    assumeTrue(Runtime.version().feature() >= 25, "the build JDK has no AOT cache");
    assertTrue(Files.size(built.resolve("modelcache.aot")) > 0, "the build made no modelcache.aot");
    dir = Files.createDirectory(tmp.resolve("opt"));
    for (String f : List.of("modelcache", "modelcache.jar", "modelcache.aot", "modelcache.aot.stamp")) {
      Files.copy(built.resolve(f), dir.resolve(f), StandardCopyOption.COPY_ATTRIBUTES);
    }
  }

  record Run(int exit, String out, String err) {}

  Run run(Map<String, String> env, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(dir.resolve("modelcache").toString()));
    cmd.addAll(List.of(args));
    Path out = tmp.resolve("out");
    Path err = tmp.resolve("err");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
    pb.environment().remove("MODELCACHE_JVM_OPTS");
    pb.environment().remove("MODELCACHE_JAR");
    pb.environment().putAll(env);
    Process p = pb.start();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      throw new AssertionError("timed out: " + cmd);
    }
    return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
  }

  /** `ls` against a home without a daemon: the one-line error, exit 9, nothing else on either stream. */
  void assertPlainClientRun(Map<String, String> env) throws Exception {
    Path home = tmp.resolve("home");
    Run r = run(env, "ls", "--home", home.toString());
    assertEquals(9, r.exit(), r.err());
    assertEquals("", r.out());
    assertEquals("modelcache: no daemon is running (no control socket at " + home.resolve("modelcache.sock")
        + "); start one with 'modelcache daemon --home " + home + "' or 'systemctl start modelcache'\n", r.err());
    Run v = run(env, "--version");
    assertEquals(0, v.exit(), v.err());
    assertTrue(v.out().startsWith("modelcache "), v.out());
    assertEquals("", v.err());
  }

  @Test
  void aFittingCacheIsUsedAndSilent() throws Exception {
    assertPlainClientRun(Map.of());
    assertTrue(launchFlags(Map.of(), "ls").contains(" -XX:AOTCache=" + dir.resolve("modelcache.aot") + " "));
    assertTrue(launchFlags(Map.of("MODELCACHE_JVM_OPTS", "-Xmx128m"), "ls").contains(" -Xshare:auto -Xmx128m "));
    assertTrue(!launchFlags(Map.of(), "daemon", "--help").contains("AOTCache"));
  }

  /** The java command line the launcher execs (from bash's trace). */
  String launchFlags(Map<String, String> env, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("bash", "-x", dir.resolve("modelcache").toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .redirectError(tmp.resolve("trace").toFile());
    pb.environment().remove("MODELCACHE_JVM_OPTS");
    pb.environment().putAll(env);
    Process p = pb.start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS));
    return Files.readAllLines(tmp.resolve("trace")).stream().filter(l -> l.startsWith("+ exec ")).findFirst()
        .orElseThrow() + " ";
  }

  @Test
  void aCorruptCacheWithAMatchingStampIsIgnoredSilently() throws Exception {
    byte[] junk = new byte[64 << 10];
    java.util.Arrays.fill(junk, (byte) 0x5a);
    Files.write(dir.resolve("modelcache.aot"), junk);
    assertPlainClientRun(Map.of());
  }

  @Test
  void aJarChangedSinceTheCacheWasMadeSkipsIt() throws Exception {
    Path jar = dir.resolve("modelcache.jar");
    Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 60_000));
    assertPlainClientRun(Map.of());
  }

  @Test
  void anUnreadableOrMissingCacheIsSkipped() throws Exception {
    Files.delete(dir.resolve("modelcache.aot.stamp"));
    assertPlainClientRun(Map.of());
    Files.delete(dir.resolve("modelcache.aot"));
    assertPlainClientRun(Map.of());
  }

  @Test
  void userJvmOptionsStillApply() throws Exception {
    assertPlainClientRun(Map.of("MODELCACHE_JVM_OPTS", "-Xmx128m"));
  }
}
