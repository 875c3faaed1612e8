package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.cpuSeconds;
import static io.modelcache.bench.BenchUtil.machineTicks;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * CPU time of the daemon and the registry, and of the whole machine, over one step: on a small
 * machine the cold read is bound by CPU, and these figures show where it goes. The daemon's share is
 * also split by what its threads do ({@link #PARTS}, from {@link ThreadCpu}): bench/run's CPU breakdown,
 * next to bench/profile's finer one from JFR.
 */
final class CpuUse {
  /** A part of the daemon's CPU: the thread name prefixes that make it up. */
  record Part(String key, String what, List<String> prefixes) {}

  /** The daemon's threads by job; whatever matches none (and threads that ended) is "other". */
  static final List<Part> PARTS = List.of(
      new Part("fetch", "fetch threads: copy out of Netty, sha256, CRC32C, cache writes", List.of("modelcache-fetc")),
      new Part("netty", "Netty threads: socket receive, HTTP decoding", List.of("modelcache-http")),
      new Part("fuse", "FUSE threads: requests, reply copies into the reader's page cache", List.of("modelcache-fuse")),
      new Part("jit", "JIT compiler threads (C1, C2)", List.of("C1 CompilerThre", "C2 CompilerThre")),
      new Part("other", "everything else (GC, the mount, threads that ended)", List.of()));

  private final E2eBench bench;
  private final long daemonPid;
  private final long registryPid;
  private final double daemon0;
  private final double registry0;
  private final long[] machine0;
  private final Map<Long, ThreadCpu.Sample> threads0;

  CpuUse(E2eBench bench, long daemonPid, long registryPid) throws IOException {
    this.bench = bench;
    this.daemonPid = daemonPid;
    this.registryPid = registryPid;
    this.daemon0 = cpuSeconds(daemonPid);
    this.registry0 = cpuSeconds(registryPid);
    this.machine0 = machineTicks();
    this.threads0 = ThreadCpu.snapshot(daemonPid);
  }

  void sample(String step, long bytes) throws IOException {
    double gib = bytes / (double) (1L << 30);
    double daemon = cpuSeconds(daemonPid) - daemon0;
    bench.sample(step + ".cpu.daemon", daemon / gib);
    Map<String, Double> parts = split(ThreadCpu.between(threads0, ThreadCpu.snapshot(daemonPid), daemon));
    parts.forEach((k, v) -> bench.sample(step + ".cpu.daemon." + k, v / gib));
    bench.sample(step + ".cpu.registry", (cpuSeconds(registryPid) - registry0) / gib);
    long[] m = machineTicks();
    double total = m[1] - machine0[1];
    if (total > 0) {
      bench.sample(step + ".cpu.busy", (m[0] - machine0[0]) / total * Runtime.getRuntime().availableProcessors());
    }
  }

  /** {@link ThreadCpu#between}'s groups summed into {@link #PARTS}, in their order. */
  static Map<String, Double> split(Map<String, Double> groups) {
    Map<String, Double> out = new java.util.LinkedHashMap<>();
    PARTS.forEach(p -> out.put(p.key(), 0.0));
    groups.forEach((name, secs) -> {
      String key = PARTS.stream().filter(p -> p.prefixes().stream().anyMatch(name::startsWith)).map(Part::key)
          .findFirst().orElse("other");
      out.merge(key, secs, Double::sum);
    });
    return out;
  }
}
