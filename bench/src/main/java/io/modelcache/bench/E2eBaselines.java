package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.check;
import static io.modelcache.bench.BenchUtil.cpuSeconds;
import static io.modelcache.bench.BenchUtil.deleteTree;
import static io.modelcache.bench.BenchUtil.f;
import static io.modelcache.bench.BenchUtil.human;
import static io.modelcache.bench.BenchUtil.say;
import static io.modelcache.bench.BenchUtil.sha256;
import static io.modelcache.bench.BenchUtil.sizeOf;

import io.modelcache.safetensors.SyntheticModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The end-to-end run's model and what it is measured against, in that run: the synthetic model
 * generated and pushed (modelcache push and a curl upload of the same blobs), the limits (curl GETs
 * of every shard blob, 4 MiB Range GETs one at a time) and the status quo (modelcache pull, then the
 * loader over the local files; dd of them cold and from the page cache). Samples go to
 * {@link E2eBench}; one use, one thread.
 */
final class E2eBaselines {
  private final E2eBench bench;

  E2eBaselines(E2eBench bench) {
    this.bench = bench;
  }

  void prepareModel() throws IOException {
    Path model = bench.work.resolve("model");
    long t0 = System.nanoTime();
    SyntheticModel.Result res = SyntheticModel.generate(model, SyntheticModel.Spec.of(bench.size, bench.shards));
    bench.sourceShards = res.files().stream().filter(f -> f.endsWith(".safetensors")).sorted().map(model::resolve)
        .toList();
    try (Stream<Path> s = Files.list(model)) {
      bench.modelBytes = s.mapToLong(BenchUtil::sizeOf).sum();
    }
    bench.shardBytes = bench.sourceShards.stream().mapToLong(BenchUtil::sizeOf).sum();
    for (Path p : bench.sourceShards) {
      bench.sourceSha.put(p.getFileName().toString(), sha256(p));
    }
    say("generated %d files, %s (%s in %d shards) in %.1f s", res.files().size(), human(bench.modelBytes),
        human(bench.shardBytes), bench.sourceShards.size(), (System.nanoTime() - t0) / 1e9);
    bench.ref = bench.registry.hostPort() + "/bench/model:v1";
    Procs.Result push = Procs.ok(bench.timeout(),
        List.of(bench.launcher.toString(), "push", model.toString(), bench.ref));
    say("pushed %s in %.1f s: %s", bench.ref, push.seconds(), push.output().strip());
    bench.sample("push", bench.shardBytes / push.seconds() / E2eBench.GB);
    // The same shard blobs uploaded by curl (POST, then one streamed PUT with the known digest) to
    // another repository, and modelcache push of the model to a third, page cache dropped before each.
    for (int r = 0; r < bench.bigRuns; r++) {
      StringBuilder up = new StringBuilder("set -e; ");
      for (Path p : bench.sourceShards) {
        String api = bench.registry.base() + "/v2/bench/curl" + r + "/blobs/uploads/";
        up.append("loc=$(curl -sSf -D - -o /dev/null -X POST ").append(Procs.q(api))
            .append(" | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); ")
            .append("curl -sSf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T ")
            .append(Procs.q(p.toString())).append(" \"$loc&digest=sha256:").append(bench.sourceSha.get(p.getFileName().toString()))
            .append("\"; ");
      }
      bench.dropCaches();
      Procs.Result curlUp = Procs.bash(bench.timeout(), up.toString());
      bench.sample("push.curl", bench.shardBytes / curlUp.seconds() / E2eBench.GB);
      bench.dropCaches();
      Procs.Result again = Procs.ok(bench.timeout(), List.of(bench.launcher.toString(), "push", model.toString(),
          bench.registry.hostPort() + "/bench/push" + r + ":v1"));
      bench.sample("push", bench.shardBytes / again.seconds() / E2eBench.GB);
    }
    say("push: %s GB/s (JVM start included), curl upload of the same blobs %s GB/s", f(bench.med("push")), f(bench.med("push.curl")));
  }

  /** 1. network limit (curl of every shard blob), 2. disk limit (dd of a local copy), native hot read. */
  void limits() throws IOException {
    StringBuilder curl = new StringBuilder();
    for (Path p : bench.sourceShards) {
      curl.append("curl -sSf -o /dev/null -w '%{size_download}\\n' ")
          .append(Procs.q(bench.registry.base() + "/v2/bench/model/blobs/sha256:" + bench.sourceSha.get(p.getFileName().toString())))
          .append("; ");
    }
    for (int r = 0; r < bench.bigRuns; r++) {
      bench.dropCaches();
      double reg0 = cpuSeconds(bench.registry.pid());
      Procs.Result res = Procs.bash(bench.timeout(), curl.toString());
      bench.sample("net.cpu.registry",
          (cpuSeconds(bench.registry.pid()) - reg0) / (bench.shardBytes / (double) (1L << 30)));
      long got = res.output().lines().mapToLong(l -> Long.parseLong(l.trim())).sum();
      check(got == bench.shardBytes, "curl got " + got + " bytes of " + bench.shardBytes);
      bench.sample("net", bench.shardBytes / res.seconds() / E2eBench.GB);
    }
    // A download to disk, the way a script would do it before ModelCache: curl into files beside the
    // pull's directory, then sync (modelcache pull makes its files durable too), page cache dropped.
    Path curled = bench.work.resolve("curled");
    StringBuilder toFiles = new StringBuilder("set -e; ");
    for (Path p : bench.sourceShards) {
      toFiles.append("curl -sSf -o ").append(Procs.q(curled.resolve(p.getFileName()).toString())).append(' ')
          .append(Procs.q(bench.registry.base() + "/v2/bench/model/blobs/sha256:" + bench.sourceSha.get(p.getFileName().toString())))
          .append("; ");
    }
    toFiles.append("sync");
    for (int r = 0; r < bench.bigRuns; r++) {
      deleteTree(curled);
      Files.createDirectories(curled);
      bench.dropCaches();
      double reg0 = cpuSeconds(bench.registry.pid());
      Procs.Result res = Procs.bash(bench.timeout(), toFiles.toString());
      // The registry shares these 2 vCPUs and reads its blobs from the same page cache: a client that
      // fills fresh page-cache pages meanwhile makes the registry's reads dearer (performance.md).
      bench.sample("net.files.cpu.registry",
          (cpuSeconds(bench.registry.pid()) - reg0) / (bench.shardBytes / (double) (1L << 30)));
      long got = bench.sourceShards.stream().mapToLong(p -> sizeOf(curled.resolve(p.getFileName()))).sum();
      check(got == bench.shardBytes, "curl into files got " + got + " bytes of " + bench.shardBytes);
      bench.sample("net.files", bench.shardBytes / res.seconds() / E2eBench.GB);
    }
    deleteTree(curled);
    // What a reader that fetches one 4 MiB chunk at a time could get: sequential Range GETs on one
    // keep-alive connection, cold, over (at most) the first 512 MiB of the first shard.
    Path shard = bench.sourceShards.get(0);
    String url = bench.registry.base() + "/v2/bench/model/blobs/sha256:"
        + bench.sourceSha.get(shard.getFileName().toString());
    long span = Math.min(512L << 20, sizeOf(shard));
    for (int r = 0; r < bench.bigRuns; r++) {
      bench.dropCaches();
      long t0 = System.nanoTime();
      byte[] buf = new byte[1 << 20];
      for (long off = 0; off < span; off += 4 << 20) {
        long end = Math.min(span, off + (4 << 20)) - 1;
        java.net.HttpURLConnection c = (java.net.HttpURLConnection) java.net.URI.create(url).toURL().openConnection();
        c.setRequestProperty("Range", "bytes=" + off + "-" + end);
        c.setConnectTimeout(5000);
        c.setReadTimeout(30000);
        check(c.getResponseCode() == 206, "Range GET answered " + c.getResponseCode());
        long got = 0;
        try (var in = c.getInputStream()) {
          for (int n; (n = in.read(buf)) > 0; ) {
            got += n;
          }
        }
        check(got == end - off + 1, "Range GET returned " + got + " bytes");
      }
      bench.sample("net.range", span / ((System.nanoTime() - t0) / 1e9) / E2eBench.GB);
    }
    say("network limit (curl GET, cold): %s GB/s; curl into files + sync: %s GB/s; 4 MiB Range GETs one at a time: %s GB/s",
        f(bench.med("net")), f(bench.med("net.files")), f(bench.med("net.range")));
  }

  /** 3. the status quo: modelcache pull, then the loader over the local files. */
  void statusQuo() throws IOException {
    Path pulled = bench.work.resolve("pulled");
    for (int r = 0; r < bench.bigRuns; r++) {
      deleteTree(pulled);
      bench.dropCaches();
      long t0 = System.nanoTime();
      double reg0 = cpuSeconds(bench.registry.pid());
      Procs.Result pull = Procs.ok(bench.timeout(),
          List.of(bench.launcher.toString(), "pull", bench.ref, pulled.toString()));
      double pullS = (System.nanoTime() - t0) / 1e9;
      bench.sample("pull.cpu.registry",
          (cpuSeconds(bench.registry.pid()) - reg0) / (bench.modelBytes / (double) (1L << 30)));
      bench.sample("pull.rate", bench.modelBytes / pullS / E2eBench.GB);
      List<double[]> trace = bench.load(pulled, t0);
      double total = trace.get(trace.size() - 1)[0];
      bench.sample("pull", pullS);
      bench.sample("pull.load", total - pullS);
      bench.sample("pull.total", total);
      if (r == 0) {
        List<double[]> tl = new ArrayList<>();
        tl.add(new double[] {0, 0});
        tl.add(new double[] {pullS, 0});
        tl.addAll(trace);
        bench.pullTimeline = tl;
      }
      say("download-then-load: pull %.2f s + load %.2f s = %.2f s (%s)", pullS, total - pullS, total,
          pull.output().strip());
    }
    List<Path> local = bench.sourceShards.stream().map(p -> pulled.resolve(p.getFileName())).toList();
    for (int r = 0; r < bench.bigRuns; r++) {
      bench.dropCaches();
      bench.sample("disk", bench.shardBytes / bench.dd(List.of(local)) / E2eBench.GB);
    }
    bench.dd(List.of(local)); // now surely in the page cache
    for (int r = 0; r < bench.runs; r++) {
      bench.sample("native.hot", bench.shardBytes / bench.dd(List.of(local)) / E2eBench.GB);
    }
    // The local load of the ideal download-then-load: the loader over files already in the page cache
    // and touched once (a pull of a model too big for the page cache writes with O_DIRECT, and on a
    // VM even cached pages cost their first touch: the best case is measured on its own).
    for (int r = 0; r < bench.bigRuns; r++) {
      long t0 = System.nanoTime();
      List<double[]> trace = bench.load(pulled, t0);
      bench.sample("load.hot", trace.get(trace.size() - 1)[0]);
    }
    say("disk limit (dd, cold): %s GB/s; native page-cache read (dd, hot): %s GB/s; loader over the files in the page cache: %s s",
        f(bench.med("disk")), f(bench.med("native.hot")), f(bench.med("load.hot")));
    stagingPull();
  }

  /**
   * The pull a model bigger than half of MemAvailable gets by default ({@code --page-cache auto}
   * picks O_DIRECT there), forced here on the benchmark's model: what a 140 GB model's pull does.
   */
  private void stagingPull() throws IOException {
    Path staged = bench.work.resolve("pulled-bypass");
    for (int r = 0; r < bench.bigRuns; r++) {
      deleteTree(staged);
      bench.dropCaches();
      long t0 = System.nanoTime();
      Procs.ok(bench.timeout(), List.of(bench.launcher.toString(), "pull", "--page-cache", "bypass", bench.ref,
          staged.toString()));
      bench.sample("pull.bypass.rate", bench.modelBytes / ((System.nanoTime() - t0) / 1e9) / E2eBench.GB);
    }
    for (Path src : bench.sourceShards) {
      Path p = staged.resolve(src.getFileName());
      check(sha256(p).equals(bench.sourceSha.get(src.getFileName().toString())),
          "pull --page-cache bypass: " + p.getFileName() + " differs from the source");
    }
    deleteTree(staged);
    say("modelcache pull --page-cache bypass (O_DIRECT, as for a model bigger than half of MemAvailable): %s GB/s",
        f(bench.med("pull.bypass.rate")));
  }
}
