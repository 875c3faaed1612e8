package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.cpuSeconds;
import static io.modelcache.bench.BenchUtil.machineTicks;

import java.io.IOException;

/**
 * CPU time of the daemon and the registry, and of the whole machine, over one step: on a small
 * machine the cold read is bound by CPU, and these figures show where it goes.
 */
final class CpuUse {
  private final E2eBench bench;
  private final long daemonPid;
  private final long registryPid;
  private final double daemon0;
  private final double registry0;
  private final long[] machine0;

  CpuUse(E2eBench bench, long daemonPid, long registryPid) throws IOException {
    this.bench = bench;
    this.daemonPid = daemonPid;
    this.registryPid = registryPid;
    this.daemon0 = cpuSeconds(daemonPid);
    this.registry0 = cpuSeconds(registryPid);
    this.machine0 = machineTicks();
  }

  void sample(String step, long bytes) throws IOException {
    double gib = bytes / (double) (1L << 30);
    bench.sample(step + ".cpu.daemon", (cpuSeconds(daemonPid) - daemon0) / gib);
    bench.sample(step + ".cpu.registry", (cpuSeconds(registryPid) - registry0) / gib);
    long[] m = machineTicks();
    double total = m[1] - machine0[1];
    if (total > 0) {
      bench.sample(step + ".cpu.busy", (m[0] - machine0[0]) / total * Runtime.getRuntime().availableProcessors());
    }
  }
}
