package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.f;
import static io.modelcache.bench.BenchUtil.say;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Many readers at once: four readers on one mount, two mounts of the same model, and the registry's
 * egress against the model size (single flight must keep it near 1x). Bytes are checked (sha256);
 * samples go to {@link E2eBench}. One use, one thread.
 */
final class E2eConcurrency {
  private final E2eBench bench;

  E2eConcurrency(E2eBench bench) {
    this.bench = bench;
  }

  /**
   * 7. four readers on one mount; two mounts of the same model; registry egress against the model
   * size. --quick does both at once on one daemon (two mounts, two readers each).
   */
  void concurrency() throws IOException {
    if (!bench.quick) {
      try (BenchDaemon d = bench.daemon()) {
        Path mnt = bench.work.resolve("mnt-c");
        bench.dropCaches();
        long mark = bench.registry.logMark();
        d.mount(bench.ref, mnt);
        List<Path> files = bench.through(mnt);
        double s = bench.dd(List.of(files, files, files, files));
        bench.sample("conc4", 4 * bench.shardBytes / s / E2eBench.GB);
        bench.sample("conc4.egress", (double) bench.registry.blobBytesSince(mark) / bench.modelBytes);
        bench.verify(mnt, "4 readers");
      }
    }
    try (BenchDaemon d = bench.daemon()) {
      Path a = bench.work.resolve("mnt-a");
      Path b = bench.work.resolve("mnt-b");
      bench.dropCaches();
      long mark = bench.registry.logMark();
      d.mount(bench.ref, a);
      d.mount(bench.ref, b);
      List<List<Path>> readers = bench.quick
          ? List.of(bench.through(a), bench.through(a), bench.through(b), bench.through(b))
          : List.of(bench.through(a), bench.through(b));
      double s = bench.dd(readers);
      bench.sample("mounts2", readers.size() * bench.shardBytes / s / E2eBench.GB);
      bench.sample("mounts2.egress", (double) bench.registry.blobBytesSince(mark) / bench.modelBytes);
      bench.verify(a, "2 mounts (first)");
      bench.verify(b, "2 mounts (second)");
    }
    say("concurrency: 4 readers %s GB/s delivered, registry sent %sx the model; 2 mounts %s GB/s, registry sent %sx",
        f(bench.med("conc4")), f(bench.med("conc4.egress")), f(bench.med("mounts2")), f(bench.med("mounts2.egress")));
  }
}
