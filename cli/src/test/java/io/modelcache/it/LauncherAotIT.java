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
import org.junit.jupiter.api.AfterEach;
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
  /** Daemons a test started: whatever a failed assertion left running ends with the test. */
  final List<Process> daemons = new ArrayList<>();

  @AfterEach
  void stopDaemons() throws InterruptedException {
    for (Process p : daemons) {
      if (p.isAlive()) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  @BeforeEach
  void copyLauncher() throws IOException {
    Path built = Cli.launcher().toAbsolutePath().getParent();
    assumeTrue(Runtime.version().feature() >= 25, "the build JDK has no AOT cache");
    assertTrue(Files.size(built.resolve("modelcache.aot")) > 0, "the build made no modelcache.aot");
    assertTrue(Files.size(built.resolve("modelcache-transfer.aot")) > 0, "the build made no modelcache-transfer.aot");
    dir = Files.createDirectory(tmp.resolve("opt"));
    for (String f : List.of("modelcache", "modelcache.jar", "modelcache.aot", "modelcache.aot.stamp",
        "modelcache-transfer.aot", "modelcache-transfer.aot.stamp")) {
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

  /** push, pull and index (C2) use the cache trained on a pull; the other client commands do not. */
  @Test
  void transferCommandsUseTheTransferCache() throws Exception {
    String transfer = " -XX:AOTCache=" + dir.resolve("modelcache-transfer.aot") + " ";
    for (String cmd : List.of("push", "pull", "index")) {
      String flags = launchFlags(Map.of(), cmd, "--help");
      assertTrue(flags.contains(transfer), cmd + ": " + flags);
      assertTrue(!flags.contains("TieredStopAtLevel"), cmd + ": " + flags);
    }
    assertTrue(!launchFlags(Map.of(), "ls").contains("modelcache-transfer.aot"));
    assertQuietHelp("pull");
  }

  @Test
  void aCorruptTransferCacheIsIgnoredSilently() throws Exception {
    byte[] junk = new byte[64 << 10];
    java.util.Arrays.fill(junk, (byte) 0x5a);
    Files.write(dir.resolve("modelcache-transfer.aot"), junk);
    assertQuietHelp("pull");
  }

  /** `CMD --help`: exit 0, the usage on stdout, nothing on stderr (no JVM warning about the cache). */
  void assertQuietHelp(String cmd) throws Exception {
    Run r = run(Map.of(), cmd, "--help");
    assertEquals(0, r.exit(), r.err());
    assertTrue(r.out().startsWith("Usage: modelcache " + cmd), r.out());
    assertEquals("", r.err());
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

  /**
   * MODELCACHE_DAEMON_AOT: the first daemon trains the daemon's cache and the JVM writes it when
   * that daemon stops (SIGTERM); the next daemon loads it, silently, and leaves it as it is; a
   * changed jar trains a new one.
   */
  @Test
  void aDaemonTrainsItsOwnCacheOnceAndLoadsItAfter() throws Exception {
    Path aot = Files.createDirectory(tmp.resolve("state")).resolve("daemon.aot");
    // A training daemon keeps its cache only if it served at least minReads FUSE reads: none here.
    Map<String, String> env = Map.of("MODELCACHE_DAEMON_AOT", aot.toString(),
        "MODELCACHE_DAEMON_JVM_OPTS", "-Xms64m -Xmx512m -Dmodelcache.aot.minReads=0");
    Daemon first = startDaemon(env, "first");
    assertTrue(first.cmdline().contains(" -XX:AOTCacheOutput=" + aot + " "), first.cmdline());
    String log1 = first.stop();
    assertTrue(Files.size(aot) > 0, "the training daemon wrote no cache:\n" + log1);
    assertTrue(!log1.contains("[error]") && !log1.contains("[warning][aot]"), log1);
    FileTime made = Files.getLastModifiedTime(aot);

    Daemon second = startDaemon(env, "second");
    assertTrue(second.cmdline().contains(" -XX:AOTCache=" + aot + " "), second.cmdline());
    String log2 = second.stop();
    assertTrue(!log2.contains("[aot]") && !log2.contains("[cds]") && !log2.contains("AOT"), log2);
    assertEquals(made, Files.getLastModifiedTime(aot), "a daemon that loads the cache rewrote it");

    Path jar = dir.resolve("modelcache.jar");
    Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 60_000));
    assertTrue(launchFlags(env, "daemon", "--help").contains(" -XX:AOTCacheOutput=" + aot + " "));
    assertTrue(launchFlags(env, "daemon", "--help").contains(" -XX:AOTCache=" + aot + " "),
        "the --help run after the jar changed trained no cache");
  }

  /** A training daemon that served nothing (no mount, no read) leaves no usable cache: the next start trains again. */
  @Test
  void aDaemonThatServedNothingTrainsAgainAtTheNextStart() throws Exception {
    Path aot = Files.createDirectory(tmp.resolve("state")).resolve("daemon.aot");
    Map<String, String> env = Map.of("MODELCACHE_DAEMON_AOT", aot.toString());
    Daemon first = startDaemon(env, "idle");
    assertTrue(first.cmdline().contains(" -XX:AOTCacheOutput=" + aot + " "), first.cmdline());
    String log = first.stop();
    assertTrue(log.contains("modelcache: this daemon answered 0 FUSE reads, fewer than the 256 that train the daemon's"
        + " AOT cache; the next start trains it again"), log);
    assertTrue(!Files.exists(Path.of(aot + ".stamp")), "the stamp stayed");
    Daemon second = startDaemon(env, "idle-again");
    assertTrue(second.cmdline().contains(" -XX:AOTCacheOutput=" + aot + " "), second.cmdline());
    second.stop();
  }

  /** A daemon cache that is junk under a fitting stamp: the daemon starts without it, and says nothing about it. */
  @Test
  void aCorruptDaemonCacheIsIgnoredSilently() throws Exception {
    Path aot = Files.createDirectory(tmp.resolve("state")).resolve("daemon.aot");
    Map<String, String> env = Map.of("MODELCACHE_DAEMON_AOT", aot.toString());
    assertTrue(launchFlags(env, "daemon", "--help").contains(" -XX:AOTCacheOutput=" + aot + " "));
    assertTrue(Files.size(aot) > 0, "daemon --help trained no cache");
    byte[] junk = new byte[64 << 10];
    java.util.Arrays.fill(junk, (byte) 0x5a);
    Files.write(aot, junk);
    Daemon d = startDaemon(env, "corrupt");
    assertTrue(d.cmdline().contains(" -XX:AOTCache=" + aot + " "), d.cmdline());
    String log = d.stop();
    assertTrue(!log.contains("[aot]") && !log.contains("[cds]") && !log.contains("AOT"), log);
  }

  record Daemon(Process process, Path log) {
    String cmdline() throws IOException {
      return " " + Files.readString(Path.of("/proc/" + process.pid() + "/cmdline")).replace('\0', ' ') + " ";
    }

    /** SIGTERM; returns the daemon's log once it has exited. */
    String stop() throws Exception {
      process.destroy();
      if (!process.waitFor(120, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError("the daemon did not stop in 120 s:\n" + Files.readString(log));
      }
      return Files.readString(log);
    }
  }

  /** A daemon from the copied launcher on its own home, once it is ready. */
  Daemon startDaemon(Map<String, String> env, String name) throws Exception {
    Path home = tmp.resolve("home-" + name);
    Path log = tmp.resolve("daemon-" + name + ".log");
    ProcessBuilder pb = new ProcessBuilder(dir.resolve("modelcache").toString(), "daemon", "--home", home.toString(),
        "--metrics-address", "127.0.0.1:0", "--unmount-on-exit")
        .redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().remove("MODELCACHE_JVM_OPTS");
    pb.environment().remove("MODELCACHE_DAEMON_JVM_OPTS");
    pb.environment().remove("MODELCACHE_HOME");
    pb.environment().putAll(env);
    Daemon d = new Daemon(pb.start(), log);
    daemons.add(d.process());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!Files.readString(log).contains("modelcache daemon ready")) {
      if (!d.process().isAlive() || System.nanoTime() > deadline) {
        d.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError("the daemon did not get ready:\n" + Files.readString(log));
      }
      Thread.sleep(100);
    }
    return d;
  }
}
