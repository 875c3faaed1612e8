package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.check;
import static io.modelcache.bench.BenchUtil.f;
import static io.modelcache.bench.BenchUtil.say;
import static io.modelcache.bench.BenchUtil.sha256;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a reader sees when the daemon dies under it (issue 13): SIGKILL and a restart on the same
 * home with restart.keepMounts, while a reader walks a shard; the longest single read is the stall.
 * Samples go to {@link E2eBench}; one use, one thread.
 */
final class E2eRestartStall {
  private final E2eBench bench;

  E2eRestartStall(E2eBench bench) {
    this.bench = bench;
  }

  /**
   * Issue 13: a reader in the middle of a shard (1 MiB reads at a loader's pace, page cache dropped,
   * the model in the disk cache) while the daemon is killed with SIGKILL and started again on the same
   * home with restart.keepMounts: the longest single read is the stall it sees; the restarted
   * daemon's start-until-ready time is beside it. Bytes are checked (sha256).
   */
  void restartStall() throws IOException {
    Path home = bench.work.resolve("home-restart");
    Path cfg = Files.createDirectories(home).resolve("config.yaml");
    // Passthrough off: the shard is complete in the cache, and a passthrough reader never waits for a
    // daemon at all; the daemon path (a file still streaming in) is the stall to measure.
    Files.writeString(cfg, "restart:\n  keepMounts: true\nfuse:\n  passthrough: false\n");
    Path mnt = bench.work.resolve("mnt-restart");
    BenchDaemon first = BenchDaemon.start(bench.launcher, home, 2 * bench.modelBytes + (1L << 30), bench.daemonEnv, "--config",
        cfg.toString());
    bench.open.push(first);
    first.mount(bench.ref, mnt);
    Path shard = bench.through(mnt).get(0);
    String want = bench.sourceSha.get(mnt.relativize(shard).toString());
    check(want != null && want.equals(sha256(shard)), "restart: the shard reads exact before the restarts");
    BenchDaemon current = first;
    for (int i = 0; i < bench.runs; i++) {
      bench.dropCaches();
      Process reader = new ProcessBuilder("python3", bench.root.resolve("bench/scripts/stall_reader.py").toString(),
          shard.toString(), "10").redirectErrorStream(true).start();
      java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(reader.getInputStream()));
      String line = out.readLine();
      check("STARTED".equals(line), "restart: the reader started (" + line + ")");
      current.kill();
      bench.open.remove(current);
      long t0 = System.nanoTime();
      current = BenchDaemon.start(bench.launcher, home, 2 * bench.modelBytes + (1L << 30), bench.daemonEnv, "--config", cfg.toString());
      bench.sample("restart.start", (System.nanoTime() - t0) / 1e9);
      bench.open.push(current);
      current.adopt(mnt);
      String last = out.readLine();
      try {
        check(reader.waitFor(bench.timeout(), java.util.concurrent.TimeUnit.SECONDS) && reader.exitValue() == 0, "restart: the reader exited 0");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted", e);
      }
      String[] f = last == null ? new String[0] : last.split(" ");
      check(f.length == 2 && f[0].equals(want), "restart: the reader's sha256 is the source's (" + last + ")");
      bench.sample("restart.stall", Double.parseDouble(f[1]));
      check(current.log().contains("took over the live mount"), "restart: the new daemon took the mount over");
    }
    current.close();
    bench.open.remove(current);
    say("restart: reader stall median %s s, max %s s; restarted daemon ready in %s s",
        f(bench.med("restart.stall")),
        f(bench.s("restart.stall").stream().mapToDouble(Double::doubleValue).max().orElse(0)),
        f(bench.med("restart.start")));
  }
}
