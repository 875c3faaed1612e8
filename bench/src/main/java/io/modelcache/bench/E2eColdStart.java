package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.check;
import static io.modelcache.bench.BenchUtil.f;
import static io.modelcache.bench.BenchUtil.header;
import static io.modelcache.bench.BenchUtil.human;
import static io.modelcache.bench.BenchUtil.readFully;
import static io.modelcache.bench.BenchUtil.say;
import static io.modelcache.bench.BenchUtil.sha256;

import io.modelcache.safetensors.SafetensorsHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A model's first moments through a fresh mount: the mount command, the time to every header and
 * to the first tensor (each on a fresh daemon home), and the loader pattern end to end, mount
 * included. Bytes are checked (sha256); samples go to {@link E2eBench}. One use, one thread.
 */
final class E2eColdStart {
  private final E2eBench bench;

  E2eColdStart(E2eBench bench) {
    this.bench = bench;
  }

  /**
   * 4a. mount command, time to every header, time to the first tensor, each on a fresh daemon home
   * (--quick: one daemon for both, so its first-tensor figure starts with shard 1's header cached).
   */
  void coldSmallSteps() throws IOException {
    Path first = bench.sourceShards.get(0);
    SafetensorsHeader.Tensor t = header(first).loaderOrder().get(0);
    String tensorSha = sha256(first, t.fileBegin(), t.length());
    int expected = 0;
    for (Path p : bench.sourceShards) {
      expected += header(p).tensors().size();
    }
    for (int r = 0; r < bench.runs; r++) {
      BenchDaemon d = bench.daemon();
      try {
        Path mnt = bench.work.resolve("mnt-h");
        bench.dropCaches();
        bench.sample("mount", d.mount(bench.ref, mnt));
        long t0 = System.nanoTime();
        int tensors = 0;
        for (Path p : bench.sourceShards) {
          tensors += header(mnt.resolve(p.getFileName())).tensors().size();
        }
        bench.sample("headers", (System.nanoTime() - t0) / 1e6);
        check(tensors == expected, "headers through the mount list " + tensors + " tensors, the source " + expected);
        if (!bench.quick) {
          d.close();
          d = bench.daemon();
        }
        mnt = bench.work.resolve("mnt-t");
        bench.dropCaches();
        // The launcher's files back in the page cache (a node that ran any modelcache command),
        // the model still cold: separates JVM start from disk from the mount's own work.
        bench.sample("ls",
            Procs.ok(60, List.of(bench.launcher.toString(), "ls", "--home", d.home.toString())).seconds());
        bench.sample("mount.jvmwarm", d.mount(bench.ref, mnt));
        firstTensor(mnt.resolve(first.getFileName()), t, tensorSha);
      } finally {
        d.close();
      }
    }
    say("cold: mount command %s s (%s s with the launcher's files in the page cache), all headers %s ms, first tensor 4 KiB %s ms, whole first tensor (%s) %s ms",
        f(bench.med("mount")), f(bench.med("mount.jvmwarm")), f(bench.med("headers")), f(bench.med("ttfb")),
        human(t.length()), f(bench.med("ttft")));
  }

  /** Header of {@code f}, then the first 4 KiB of tensor {@code t}, then the rest of it; checks its bytes. */
  private void firstTensor(Path f, SafetensorsHeader.Tensor t, String tensorSha) throws IOException {
    long t0 = System.nanoTime();
    SafetensorsHeader h = header(f);
    SafetensorsHeader.Tensor mt = h.loaderOrder().get(0);
    check(mt.equals(t), "first tensor through the mount is " + mt + ", in the source " + t);
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
      buf.limit((int) Math.min(4096, t.length()));
      readFully(ch, buf, t.fileBegin());
      bench.sample("ttfb", (System.nanoTime() - t0) / 1e6);
      for (long off = t.fileBegin() + buf.position(); off < t.fileEnd(); ) {
        buf.clear().limit((int) Math.min(buf.capacity(), t.fileEnd() - off));
        off += readFully(ch, buf, off);
      }
      bench.sample("ttft", (System.nanoTime() - t0) / 1e6);
    }
    check(sha256(f, t.fileBegin(), t.length()).equals(tensorSha), "first tensor bytes through the mount differ");
  }

  /** 4c. the loader pattern through a fresh mount, mount included. */
  void loaderCold() throws IOException {
    for (int r = 0; r < bench.bigRuns; r++) {
      try (BenchDaemon d = bench.daemon()) {
        Path mnt = bench.work.resolve("mnt-load");
        bench.dropCaches();
        long t0 = System.nanoTime();
        CpuUse cpu = new CpuUse(bench, d.pid(), bench.registry.pid());
        double mountS = d.mount(bench.ref, mnt);
        List<double[]> trace = bench.load(mnt, t0);
        cpu.sample("load", bench.shardBytes);
        bench.sample("load.passthrough", BenchDaemon.sum(d.metrics(), "modelcache_fuse_passthrough_opens_total", ""));
        double total = trace.get(trace.size() - 1)[0];
        bench.sample("load.cold", total);
        if (r == 0) {
          List<double[]> tl = new ArrayList<>();
          tl.add(new double[] {0, 0});
          tl.add(new double[] {mountS, 0});
          tl.addAll(trace);
          bench.mountTimeline = tl;
        }
        bench.verify(mnt, "loader pattern");
        say("ModelCache cold loader: %.2f s end to end (mount %.2f s)", total, mountS);
      }
    }
  }
}
