package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.check;
import static io.modelcache.bench.BenchUtil.f;
import static io.modelcache.bench.BenchUtil.say;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Sequential reads through a mount (dd, bs=1M): cold on a fresh daemon home, warm (remount, page
 * cache dropped, the disk cache full), hot (page cache), with the daemon's CPU per GiB, memory, FUSE
 * request counts and registry egress for each; on the kernel transport and, unless --quick, on jnr,
 * the baseline the CPU targets are ratios against. Samples go to {@link E2eBench}; one use, one
 * thread.
 */
final class E2eSequential {
  private final E2eBench bench;

  E2eSequential(E2eBench bench) {
    this.bench = bench;
  }

  /** 4b/5/6. sequential dd cold (fresh home), warm (remount, disk cache), hot (page cache); memory. */
  void coldWarmHot() throws IOException {
    coldWarmHot("", null);
    if (!bench.quick) { // the same on jnr-fuse, the baseline issue 10's CPU targets are ratios against
      Path cfg = Files.writeString(bench.work.resolve("jnr.yaml"), "fuse:\n  transport: jnr\n");
      coldWarmHot("jnr.", cfg);
    }
    say("ModelCache sequential dd: cold %s GB/s, warm %s GB/s, hot %s GB/s; registry sent %sx the model; daemon peak RSS %s MiB, heap peak %s MiB, live %s MiB",
        f(bench.med("cold")), f(bench.med("warm")), f(bench.med("hot")), f(bench.med("cold.egress")),
        f(bench.med("rss")), f(bench.med("heap.peak")), f(bench.med("heap.live")));
    say("daemon CPU per GiB: cold %s, warm %s, hot %s s (kernel transport, %s passthrough opens on the warm read)%s",
        f(bench.med("cold.cpu.daemon")), f(bench.med("warm.cpu.daemon")), f(bench.med("hot.cpu.daemon")),
        f(bench.med("warm.passthrough")),
        bench.quick ? "" : String.format(Locale.ROOT, "; jnr: cold %s, warm %s, hot %s s",
            f(bench.med("jnr.cold.cpu.daemon")), f(bench.med("jnr.warm.cpu.daemon")),
            f(bench.med("jnr.hot.cpu.daemon"))));
  }

  /**
   * Cold, warm (remount, page cache dropped) and hot (again) sequential reads on a fresh daemon,
   * with the daemon's CPU per GiB for each; samples under {@code prefix} ("" for the default
   * transport), the daemon started with {@code config} when not null.
   */
  private void coldWarmHot(String prefix, Path config) throws IOException {
    for (int r = 0; r < bench.bigRuns; r++) {
      try (BenchDaemon d = config == null ? bench.daemon() : bench.daemon("--config", config.toString())) {
        Path mnt = bench.work.resolve("mnt-seq");
        d.startSampling();
        bench.dropCaches();
        long mark = bench.registry.logMark();
        d.mount(bench.ref, mnt);
        CpuUse cpu = new CpuUse(bench, d.pid(), bench.registry.pid());
        bench.sample(prefix + "cold", bench.shardBytes / bench.dd(List.of(bench.through(mnt))) / E2eBench.GB);
        cpu.sample(prefix + "cold", bench.shardBytes);
        bench.sample(prefix + "cold.egress", (double) bench.registry.blobBytesSince(mark) / bench.modelBytes);
        if (prefix.isEmpty()) {
          diagnose(d.metrics());
        }
        bench.sample(prefix + "heap.peak", d.stopSampling() / E2eBench.MIB);
        bench.sample(prefix + "rss", d.peakRss() / E2eBench.MIB);
        bench.sample(prefix + "heap.live", d.liveHeap() / E2eBench.MIB);
        bench.verify(mnt, "cold sequential");
        d.umount(mnt);
        d.mount(bench.ref, mnt);
        bench.dropCaches();
        mark = bench.registry.logMark();
        String m0 = d.metrics();
        cpu = new CpuUse(bench, d.pid(), bench.registry.pid());
        var threads0 = ThreadCpu.snapshot(d.pid());
        double d0 = BenchUtil.cpuSeconds(d.pid());
        bench.sample(prefix + "warm", bench.shardBytes / bench.dd(List.of(bench.through(mnt))) / E2eBench.GB);
        cpu.sample(prefix + "warm", bench.shardBytes);
        // Passthrough serves the bytes, so whatever CPU the daemon spends here is background work:
        // the log names its threads.
        var threads = ThreadCpu.between(threads0, ThreadCpu.snapshot(d.pid()), BenchUtil.cpuSeconds(d.pid()) - d0);
        say("%swarm read: daemon CPU-s by thread: %s", prefix, ThreadCpu.line(threads));
        bench.sample(prefix + "warm.egress", (double) bench.registry.blobBytesSince(mark));
        String m1 = d.metrics();
        fuseDelta(prefix + "warm", m0, m1, 1);
        bench.sample(prefix + "warm.passthrough", BenchDaemon.sum(m1, "modelcache_fuse_passthrough_opens_total", "")
            - BenchDaemon.sum(m0, "modelcache_fuse_passthrough_opens_total", ""));
        cpu = new CpuUse(bench, d.pid(), bench.registry.pid());
        for (int i = 0; i < bench.runs; i++) {
          bench.sample(prefix + "hot", bench.shardBytes / bench.dd(List.of(bench.through(mnt))) / E2eBench.GB);
        }
        cpu.sample(prefix + "hot", bench.shardBytes * bench.runs);
        fuseDelta(prefix + "hot", m1, d.metrics(), bench.runs);
        bench.verify(mnt, "warm and hot");
        twoMountsPageCache(prefix, d, mnt);
        if (prefix.isEmpty()) {
          afterRestart(d, mnt);
        }
      }
    }
  }

  /**
   * The first load after a node's reboot: the daemon stopped cleanly, started again on the same home
   * (the model in the disk cache, nothing read back since the start) and the page cache dropped.
   * The first read is the daemon's (each chunk checked as it is loaded) while the mount's files are
   * read back in the background; the second, page cache dropped again, is passthrough. The baseline
   * is the same first read from a restarted daemon with passthrough off: the daemon path with no
   * read-back beside it, so the ratio is what the read-back costs the first load. Bytes are
   * checked (sha256).
   */
  private void afterRestart(BenchDaemon d, Path mnt) throws IOException {
    d.stop(); // clean, keeping the disk cache; the try-with-resources closes it again (a no-op) and cleans up
    long budget = 2 * bench.modelBytes + (1L << 30);
    BenchDaemon again = BenchDaemon.start(bench.launcher, d.home, budget, bench.daemonEnv);
    bench.open.push(again); // closed (its home cleaned) by the harness only if this fails
    check(Procs.run(60, List.of(bench.launcher.toString(), "cache", "ls", "--home", d.home.toString())).output()
        .contains("COMPLETE"), "restart: the disk cache survived the stop");
    again.mount(bench.ref, mnt);
    readAfterRestart(again, mnt, "restart.warm");
    readAfterRestart(again, mnt, "restart.warm2");
    again.stop(); // not close(): the disk cache stays for the next start
    bench.open.remove(again);
    Path noPt = Files.writeString(bench.work.resolve("no-passthrough.yaml"), "fuse:\n  passthrough: false\n");
    try (BenchDaemon daemonPath = BenchDaemon.start(bench.launcher, d.home, budget, bench.daemonEnv, "--config", noPt.toString())) {
      bench.open.push(daemonPath);
      daemonPath.mount(bench.ref, mnt);
      readAfterRestart(daemonPath, mnt, "restart.daemonpath");
      bench.open.remove(daemonPath);
    }
    say("after a restart: first read %s GB/s (%s passthrough opens, daemon CPU %s s/GiB), second %s GB/s; daemon path (passthrough off) %s GB/s (%s s/GiB); warm before the restart %s GB/s",
        f(bench.med("restart.warm")), f(bench.med("restart.warm.passthrough")), f(bench.med("restart.warm.cpu.daemon")),
        f(bench.med("restart.warm2")), f(bench.med("restart.daemonpath")), f(bench.med("restart.daemonpath.cpu.daemon")),
        f(bench.med("warm")));
  }

  private void readAfterRestart(BenchDaemon d, Path mnt, String step) throws IOException {
    bench.dropCaches();
    String m0 = d.metrics();
    CpuUse cpu = new CpuUse(bench, d.pid(), bench.registry.pid());
    long mark = bench.registry.logMark();
    bench.sample(step, bench.shardBytes / bench.dd(List.of(bench.through(mnt))) / E2eBench.GB);
    cpu.sample(step, bench.shardBytes);
    check(bench.registry.blobBytesSince(mark) == 0, step + ": the registry sent nothing (the disk cache served it)");
    bench.sample(step + ".passthrough", BenchDaemon.sum(d.metrics(), "modelcache_fuse_passthrough_opens_total", "")
        - BenchDaemon.sum(m0, "modelcache_fuse_passthrough_opens_total", ""));
    bench.verify(mnt, step);
  }

  /**
   * Two mounts of the model in the disk cache, both read after the page cache was dropped: how much
   * page cache that adds, over the shard bytes (passthrough shares the cache files' pages; without
   * it each mount has its own page cache, and the daemon's reads may add the cache files' pages).
   */
  private void twoMountsPageCache(String prefix, BenchDaemon d, Path mnt) throws IOException {
    Path second = bench.work.resolve("mnt-seq2");
    d.mount(bench.ref, second);
    bench.dropCaches();
    long before = BenchUtil.pageCacheBytes();
    bench.dd(List.of(bench.through(mnt)));
    bench.dd(List.of(bench.through(second)));
    bench.sample(prefix + "mounts2.pagecache", (BenchUtil.pageCacheBytes() - before) / (double) bench.shardBytes);
    bench.verify(second, "second mount, disk cache");
    d.umount(second);
  }

  /**
   * Why the cold read goes as fast as it does, from the daemon's own metrics: the FUSE request size
   * the kernel sent and the time each took, the registry fetches' size and duration.
   */
  private void diagnose(String metrics) throws IOException {
    Files.writeString(bench.out.resolve("metrics-after-cold-read.txt"), metrics);
    double reads = BenchDaemon.sum(metrics, "modelcache_fuse_operation_seconds_count", "op=\"read\"");
    double readSec = BenchDaemon.sum(metrics, "modelcache_fuse_operation_seconds_sum", "op=\"read\"");
    // Not modelcache_mount_read_bytes_total: it reads 0 (the daemon's MountView is only weakly held).
    double readBytes = bench.shardBytes;
    double fetches = BenchDaemon.sum(metrics, "modelcache_fetch_duration_seconds_count", "");
    double fetchSec = BenchDaemon.sum(metrics, "modelcache_fetch_duration_seconds_sum", "");
    double fetched = BenchDaemon.sum(metrics, "modelcache_registry_fetched_bytes_total", "");
    if (reads > 0) {
      bench.sample("diag.fuse.size", readBytes / reads / 1024);
      bench.sample("diag.fuse.ms", readSec / reads * 1e3);
    }
    if (fetches > 0) {
      bench.sample("diag.fetch.size", fetched / fetches / E2eBench.MIB);
      bench.sample("diag.fetch.ms", fetchSec / fetches * 1e3);
      bench.sample("diag.fetch.rate", fetched / fetchSec / E2eBench.GB);
    }
  }

  /** FUSE read requests the daemon saw between two metrics scrapes, per pass, and their mean time. */
  private void fuseDelta(String step, String before, String after, int passes) {
    String c = "modelcache_fuse_operation_seconds_count";
    String t = "modelcache_fuse_operation_seconds_sum";
    String read = "op=\"read\"";
    double n = BenchDaemon.sum(after, c, read) - BenchDaemon.sum(before, c, read);
    double sec = BenchDaemon.sum(after, t, read) - BenchDaemon.sum(before, t, read);
    bench.sample(step + ".fuse.reads", n / passes);
    if (n > 0) {
      bench.sample(step + ".fuse.us", sec / n * 1e6);
    }
    double attrs = BenchDaemon.sum(after, c, "op=\"getattr\"") - BenchDaemon.sum(before, c, "op=\"getattr\"");
    bench.sample(step + ".fuse.getattr", attrs / passes);
  }
}
