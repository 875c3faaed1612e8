package io.modelcache.bench;

import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.FetchPriority;
import io.modelcache.fuse.FuseOptions;
import io.modelcache.fuse.KernelTransport;
import io.modelcache.fuse.Mounted;
import io.modelcache.fuse.PassthroughHook;
import io.modelcache.layout.OciLayout;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.Reference;
import io.modelcache.safetensors.SyntheticModel;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * FUSE passthrough against the daemon path on the kernel transport, in one run (medians of N):
 * a model fully in the chunk cache (from an OCI layout on disk, no registry), mounted twice in this
 * process per mode (passthrough; daemon path with READ replies spliced from the pinned cache files
 * where this process's pipes hold them; daemon path with replies copied); page cache dropped, then {@code cat} of every file through the first mount (warm), again
 * (hot), then through the second mount; against {@code cat} of the cache files themselves with the
 * page cache dropped (warm) and again (hot). Reports throughput as a ratio to those baselines, the
 * page cache each step added (/proc/meminfo Cached) over the model's size, this process's CPU
 * seconds per GiB (the daemon's share), passthrough opens and spliced replies. Needs root. {@code bench/passthrough [SIZE_MIB [RUNS]]}.
 */
public final class PassthroughProbe {
  private PassthroughProbe() {}

  record Step(double seconds, double cpu, long cachedDelta) {}

  public static void main(String[] args) throws Exception {
    long size = (args.length > 0 ? Long.parseLong(args[0]) : 1024) << 20;
    int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    Path work = Files.createTempDirectory("modelcache-passthrough");
    Path src = work.resolve("model");
    SyntheticModel.generate(src, new SyntheticModel.Spec(size, 4, "BF16", 4, 5));
    Reference ref = Reference.parse("oci:" + work.resolve("layout"));
    ModelPusher.push(src, OciLayout.create(ref), "v1", new PushOptions(false, 2, null, 0));
    OciLayout layout = OciLayout.open(ref);
    ModelArtifact a = ModelReader.read(layout, "v1");
    long model = a.totalBytes();
    try (ChunkCache cache = ChunkCache.open(CacheConfig.defaults(work.resolve("cache")).withBudgetBytes(4 * model))) {
      ModelMount m1 = new ModelMount(a, layout, cache);
      ModelMount m2 = new ModelMount(a, layout, cache);
      for (ModelMount.MountedFile f : m1.files().values()) {
        BlobHandle h = f.handle();
        h.prefetch(0, h.spec().contentLength(), FetchPriority.FILL).done().join();
        for (int i = 0; i < 6000 && !h.isComplete(); i++) {
          Thread.sleep(10);
        }
        if (!h.isComplete()) {
          throw new IllegalStateException("blob of " + f.file().path() + " did not verify");
        }
      }
      List<String> cacheFiles = new ArrayList<>();
      for (ModelMount.MountedFile f : m1.files().values()) {
        cacheFiles.add(work.resolve("cache/blobs").resolve(f.handle().spec().key()).toString());
      }
      System.out.printf(Locale.ROOT, "model %d MiB in %d files, fully cached; %d runs%n", model >> 20, cacheFiles.size(), runs);
      List<String> rows = new ArrayList<>();
      PassthroughHook.Stats ptStats = new PassthroughHook.Stats();
      PassthroughHook.Stats dpStats = new PassthroughHook.Stats();
      KernelTransport pt = KernelTransport.withPassthrough(true, ptStats);
      KernelTransport dp = KernelTransport.withPassthrough(false, dpStats);
      PassthroughHook.Stats cpStats = new PassthroughHook.Stats();
      KernelTransport cp = new KernelTransport(io.modelcache.fuse.kernel.InitConfig.defaults().withSpliceReplies(false),
          (tree, fd) -> new PassthroughHook(fd, false, cpStats));
      ModelMount m3 = new ModelMount(a, layout, cache);
      ModelMount m4 = new ModelMount(a, layout, cache);
      ModelMount m5 = new ModelMount(a, layout, cache);
      ModelMount m6 = new ModelMount(a, layout, cache);
      // [mode][step][run]: mode 0 cat of cache files, 1 passthrough, 2 daemon path (spliced replies where the
      // pipe allows), 3 daemon path with replies copied; steps warm, hot, second mount
      int modes = 4;
      double[][][] sec = new double[modes][3][runs];
      double[][][] cpu = new double[modes][3][runs];
      double[][][] pc = new double[modes][3][runs];
      long[] spliced = new long[modes];
      try (Mounted a1 = pt.mount(Files.createDirectories(work.resolve("pt1")), m1, FuseOptions.defaults().withFsName("pt-probe-1"));
          Mounted a2 = pt.mount(Files.createDirectories(work.resolve("pt2")), m2, FuseOptions.defaults().withFsName("pt-probe-2"));
          Mounted a3 = dp.mount(Files.createDirectories(work.resolve("dp1")), m3, FuseOptions.defaults().withFsName("pt-probe-3"));
          Mounted a4 = dp.mount(Files.createDirectories(work.resolve("dp2")), m4, FuseOptions.defaults().withFsName("pt-probe-4"));
          Mounted a5 = cp.mount(Files.createDirectories(work.resolve("cp1")), m5, FuseOptions.defaults().withFsName("pt-probe-5"));
          Mounted a6 = cp.mount(Files.createDirectories(work.resolve("cp2")), m6, FuseOptions.defaults().withFsName("pt-probe-6"))) {
        List<List<List<String>>> sets = List.of(
            List.of(cacheFiles, cacheFiles, cacheFiles),
            List.of(files(a1.mountpoint(), m1), files(a1.mountpoint(), m1), files(a2.mountpoint(), m2)),
            List.of(files(a3.mountpoint(), m3), files(a3.mountpoint(), m3), files(a4.mountpoint(), m4)),
            List.of(files(a5.mountpoint(), m5), files(a5.mountpoint(), m5), files(a6.mountpoint(), m6)));
        for (int r = 0; r < runs; r++) {
          for (int mode = 0; mode < modes; mode++) { // interleaved: each run measures every mode under the same load
            dropCaches();
            long s0 = io.modelcache.fuse.kernel.SpliceReply.sent();
            for (int k = 0; k < 3; k++) {
              Step st = measure(sets.get(mode).get(k));
              sec[mode][k][r] = st.seconds();
              cpu[mode][k][r] = st.cpu();
              pc[mode][k][r] = st.cachedDelta();
            }
            spliced[mode] += io.modelcache.fuse.kernel.SpliceReply.sent() - s0;
          }
        }
      }
      double warmBase = median(sec[0][0]);
      double hotBase = median(sec[0][1]);
      rows.add(row("cat of the cache files, page cache dropped (warm baseline)", model, warmBase, warmBase, Double.NaN,
          median(pc[0][0]), -1));
      rows.add(row("cat of the cache files again (hot baseline)", model, hotBase, hotBase, Double.NaN, median(pc[0][1]), -1));
      String[] names = {"", "passthrough", "daemon path, spliced replies", "daemon path, replies copied"};
      for (int mode = 1; mode < modes; mode++) {
        long opens = mode == 1 ? ptStats.passthroughOpens() : mode == 2 ? dpStats.passthroughOpens() : cpStats.passthroughOpens();
        rows.add(row(names[mode] + ": mount 1, page cache dropped (warm)", model, median(sec[mode][0]), warmBase,
            median(cpu[mode][0]), median(pc[mode][0]), opens));
        rows.add(row(names[mode] + ": mount 1 again (hot)", model, median(sec[mode][1]), hotBase, median(cpu[mode][1]),
            median(pc[mode][1]), opens));
        rows.add(row(names[mode] + ": mount 2 of the same model, after mount 1", model, median(sec[mode][2]), warmBase,
            median(cpu[mode][2]), median(pc[mode][2]), opens));
        double both = median(pc[mode][0]) + median(pc[mode][1]) + median(pc[mode][2]);
        rows.add(String.format(Locale.ROOT, "| %s: page cache added by both mounts, both read | | | | %.2f× model | |",
            names[mode], both / model));
      }
      m3.close();
      m4.close();
      m5.close();
      m6.close();
      System.out.printf(Locale.ROOT, "spliced READ replies over all runs: daemon path %d, replies copied %d%n",
          spliced[2], spliced[3]);
      System.out.println("| step | GB/s | ratio to baseline | daemon CPU-s/GiB | page cache added | passthrough opens |");
      System.out.println("|---|---|---|---|---|---|");
      rows.forEach(System.out::println);
      m1.close();
      m2.close();
    } finally {
      Procs.bash(60, "rm -rf " + Procs.q(work));
    }
  }

  private static List<String> files(Path mp, ModelMount m) {
    List<String> out = new ArrayList<>();
    for (String p : m.files().keySet()) {
      out.add(mp.resolve(p.startsWith("/") ? p.substring(1) : p).toString());
    }
    return out;
  }

  private static String row(String what, long bytes, double sec, double baseSec, double cpuPerGiB, double cached,
      long opens) {
    return String.format(Locale.ROOT, "| %s | %.2f | %.2f× | %s | %s | %s |", what, bytes / sec / 1e9, baseSec / sec,
        Double.isNaN(cpuPerGiB) ? "" : String.format(Locale.ROOT, "%.3f", cpuPerGiB),
        Double.isNaN(cached) ? "" : String.format(Locale.ROOT, "%.2f× model", cached / bytes),
        opens < 0 ? "" : Long.toString(opens));
  }

  private static Step measure(List<String> files) throws Exception {
    long before = BenchUtil.pageCacheBytes();
    long cpu0 = cpuNanos();
    Procs.Result r = cat(files);
    long cpu = cpuNanos() - cpu0;
    long bytes = 0;
    for (String f : files) {
      bytes += Files.size(Path.of(f));
    }
    return new Step(r.seconds(), cpu / 1e9 / (bytes / (double) (1L << 30)), BenchUtil.pageCacheBytes() - before);
  }

  private static Procs.Result cat(List<String> files) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("cat"));
    cmd.addAll(files);
    return Procs.bash(600, String.join(" ", cmd.stream().map(Procs::q).toList()) + " > /dev/null");
  }

  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static void dropCaches() throws Exception {
    Procs.bash(60, "sync; echo 3 > /proc/sys/vm/drop_caches");
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
