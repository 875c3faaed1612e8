package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.anyMountUnder;
import static io.modelcache.bench.BenchUtil.check;
import static io.modelcache.bench.BenchUtil.cpuSeconds;
import static io.modelcache.bench.BenchUtil.deleteTree;
import static io.modelcache.bench.BenchUtil.f;
import static io.modelcache.bench.BenchUtil.header;
import static io.modelcache.bench.BenchUtil.human;
import static io.modelcache.bench.BenchUtil.loadAvg;
import static io.modelcache.bench.BenchUtil.machineTicks;
import static io.modelcache.bench.BenchUtil.memTotal;
import static io.modelcache.bench.BenchUtil.readFully;
import static io.modelcache.bench.BenchUtil.say;
import static io.modelcache.bench.BenchUtil.sha256;
import static io.modelcache.bench.BenchUtil.sizeOf;

import io.modelcache.safetensors.SafetensorsHeader;
import io.modelcache.safetensors.SyntheticModel;
import java.awt.Color;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The end-to-end benchmark: a real {@code docker-registry} on 127.0.0.1, a synthetic safetensors
 * model pushed to it, and, in one run, the limits (network, disk, page cache), the status quo
 * (pull then load) and ModelCache cold, warm, hot, under concurrency, with the daemon's memory.
 * Writes {@code results.md}, {@code results.csv} and {@code loader-timeline.png} to {@code --out}.
 * Every byte read through a mount is checked (sha256) against the source; a mismatch or any error
 * fails the run (exit 1). Timings are never asserted. Run it with {@code bench/run}.
 *
 * <p>Single-threaded orchestration; child processes do the reading. Everything started is stopped
 * in {@code finally} and by a shutdown hook (unmount, stop daemons, stop the registry).
 */
public final class E2eBench {
  private static final double GB = 1e9;
  private static final double MIB = 1 << 20;

  // Options.
  private long size = 4L << 30;
  private int shards = 4;
  private int runs = 3;
  private int bigRuns = 1;
  private boolean quick;
  private boolean keep;
  private Path out;
  private Path workParent = Path.of(System.getProperty("java.io.tmpdir"));
  private Path root = Path.of(System.getProperty("bench.root", ".")).toAbsolutePath().normalize();
  private Path launcher;
  private Path loaderScript;

  // Run state.
  private Path work;
  private BenchRegistry registry;
  private final ArrayDeque<AutoCloseable> open = new ArrayDeque<>();
  private final Map<String, List<Double>> samples = new LinkedHashMap<>();
  private final Report report = new Report();
  private String ref;
  private List<Path> sourceShards;
  private Map<String, String> sourceSha = new LinkedHashMap<>();
  private long shardBytes;
  private long modelBytes;
  private boolean dropWorks = true;
  private int homes;
  private List<double[]> pullTimeline = List.of();
  private List<double[]> mountTimeline = List.of();
  private final String loadStart = loadAvg();

  public static void main(String[] args) {
    E2eBench b = new E2eBench();
    int code;
    try {
      b.parse(args);
      Thread hook = new Thread(b::cleanup, "bench-cleanup");
      Runtime.getRuntime().addShutdownHook(hook);
      b.run();
      code = 0;
    } catch (Usage e) {
      System.out.println(e.getMessage());
      code = 0;
    } catch (IllegalArgumentException e) {
      System.err.println("bench: " + e.getMessage());
      code = 2;
    } catch (Exception e) {
      System.err.println("bench FAILED: " + e);
      e.printStackTrace();
      code = 1;
    } finally {
      b.cleanup();
    }
    System.exit(code);
  }

  /** --help: the usage text, exit 0. */
  private static final class Usage extends RuntimeException {
    Usage(String text) {
      super(text, null, false, false);
    }
  }

  private void parse(String[] args) {
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--size" -> size = SyntheticModel.parseSize(val(args, ++i, a));
        case "--shards" -> shards = Integer.parseInt(val(args, ++i, a));
        case "--runs" -> runs = Integer.parseInt(val(args, ++i, a));
        case "--big-runs" -> bigRuns = Integer.parseInt(val(args, ++i, a));
        case "--out" -> out = Path.of(val(args, ++i, a)).toAbsolutePath();
        case "--work-dir" -> workParent = Path.of(val(args, ++i, a)).toAbsolutePath();
        case "--launcher" -> launcher = Path.of(val(args, ++i, a)).toAbsolutePath();
        case "--keep" -> keep = true;
        case "--quick" -> {
          quick = true;
          size = 128L << 20;
          shards = 2;
          runs = 1;
          bigRuns = 1;
        }
        case "-h", "--help" -> throw new Usage(
            "usage: bench/run [--size 4G] [--shards 4] [--runs 3] [--big-runs 1] [--quick] [--out DIR] "
                + "[--work-dir DIR] [--launcher PATH] [--keep]");
        default -> throw new IllegalArgumentException("unknown option " + a + " (try --help)");
      }
    }
    if (runs < 1 || bigRuns < 1 || shards < 1) {
      throw new IllegalArgumentException("--runs, --big-runs and --shards must be at least 1");
    }
    if (launcher == null) {
      launcher = root.resolve("cli/target/modelcache");
    }
    loaderScript = root.resolve("bench/scripts/load_safetensors.py");
    if (out == null) {
      out = root.resolve("bench/results").resolve(java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'")
          .withZone(java.time.ZoneOffset.UTC).format(Instant.now()));
    }
    if (!Files.isExecutable(launcher)) {
      throw new IllegalArgumentException("launcher " + launcher + " missing: build with mvn -DskipTests package");
    }
  }

  private static String val(String[] args, int i, String opt) {
    if (i >= args.length) {
      throw new IllegalArgumentException(opt + " needs a value");
    }
    return args[i];
  }

  // ------------------------------------------------------------------ orchestration

  private void run() throws Exception {
    Files.createDirectories(workParent);
    work = Files.createTempDirectory(workParent, "modelcache-bench.");
    Files.createDirectories(out);
    say("work dir %s, results %s", work, out);
    say("model %s in %d shards; %d runs of small steps, %d of whole-model steps%s", human(size), shards, runs, bigRuns,
        quick ? " (quick smoke)" : "");
    registry = BenchRegistry.start(work.resolve("registry"));
    say("registry on %s (pid %d)", registry.hostPort(), registry.pid());
    prepareModel();
    limits();
    statusQuo();
    coldSmallSteps();
    coldWarmHot();
    loaderCold();
    concurrency();
    restartStall();
    if (!quick) { // kernel and jnr side by side: threads and RSS with 1 and 50 mounts, serving CPU
      TransportBench.measure(work.resolve("transports"), runs, this::sample);
    }
    writeReport();
  }

  private void prepareModel() throws IOException {
    Path model = work.resolve("model");
    long t0 = System.nanoTime();
    SyntheticModel.Result res = SyntheticModel.generate(model, SyntheticModel.Spec.of(size, shards));
    sourceShards = res.files().stream().filter(f -> f.endsWith(".safetensors")).sorted().map(model::resolve).toList();
    try (Stream<Path> s = Files.list(model)) {
      modelBytes = s.mapToLong(BenchUtil::sizeOf).sum();
    }
    shardBytes = sourceShards.stream().mapToLong(BenchUtil::sizeOf).sum();
    for (Path p : sourceShards) {
      sourceSha.put(p.getFileName().toString(), sha256(p));
    }
    say("generated %d files, %s (%s in %d shards) in %.1f s", res.files().size(), human(modelBytes), human(shardBytes),
        sourceShards.size(), (System.nanoTime() - t0) / 1e9);
    ref = registry.hostPort() + "/bench/model:v1";
    Procs.Result push = Procs.ok(timeout(), List.of(launcher.toString(), "push", model.toString(), ref));
    say("pushed %s in %.1f s: %s", ref, push.seconds(), push.output().strip());
    sample("push", shardBytes / push.seconds() / GB);
    // The same shard blobs uploaded by curl (POST, then one streamed PUT with the known digest) to
    // another repository, and modelcache push of the model to a third, page cache dropped before each.
    for (int r = 0; r < bigRuns; r++) {
      StringBuilder up = new StringBuilder("set -e; ");
      for (Path p : sourceShards) {
        String api = registry.base() + "/v2/bench/curl" + r + "/blobs/uploads/";
        up.append("loc=$(curl -sSf -D - -o /dev/null -X POST ").append(Procs.q(api))
            .append(" | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); ")
            .append("curl -sSf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T ")
            .append(Procs.q(p.toString())).append(" \"$loc&digest=sha256:").append(sourceSha.get(p.getFileName().toString()))
            .append("\"; ");
      }
      dropCaches();
      Procs.Result curlUp = Procs.bash(timeout(), up.toString());
      sample("push.curl", shardBytes / curlUp.seconds() / GB);
      dropCaches();
      Procs.Result again = Procs.ok(timeout(), List.of(launcher.toString(), "push", model.toString(),
          registry.hostPort() + "/bench/push" + r + ":v1"));
      sample("push", shardBytes / again.seconds() / GB);
    }
    say("push: %s GB/s (JVM start included), curl upload of the same blobs %s GB/s", f(med("push")), f(med("push.curl")));
  }

  /** 1. network limit (curl of every shard blob), 2. disk limit (dd of a local copy), native hot read. */
  private void limits() throws IOException {
    StringBuilder curl = new StringBuilder();
    for (Path p : sourceShards) {
      curl.append("curl -sSf -o /dev/null -w '%{size_download}\\n' ")
          .append(Procs.q(registry.base() + "/v2/bench/model/blobs/sha256:" + sourceSha.get(p.getFileName().toString())))
          .append("; ");
    }
    for (int r = 0; r < bigRuns; r++) {
      dropCaches();
      double reg0 = cpuSeconds(registry.pid());
      Procs.Result res = Procs.bash(timeout(), curl.toString());
      sample("net.cpu.registry", (cpuSeconds(registry.pid()) - reg0) / (shardBytes / (double) (1L << 30)));
      long got = res.output().lines().mapToLong(l -> Long.parseLong(l.trim())).sum();
      check(got == shardBytes, "curl got " + got + " bytes of " + shardBytes);
      sample("net", shardBytes / res.seconds() / GB);
    }
    // What a reader that fetches one 4 MiB chunk at a time could get: sequential Range GETs on one
    // keep-alive connection, cold, over (at most) the first 512 MiB of the first shard.
    Path shard = sourceShards.get(0);
    String url = registry.base() + "/v2/bench/model/blobs/sha256:" + sourceSha.get(shard.getFileName().toString());
    long span = Math.min(512L << 20, sizeOf(shard));
    for (int r = 0; r < bigRuns; r++) {
      dropCaches();
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
      sample("net.range", span / ((System.nanoTime() - t0) / 1e9) / GB);
    }
    say("network limit (curl GET, cold): %s GB/s; 4 MiB Range GETs one at a time: %s GB/s", f(med("net")),
        f(med("net.range")));
  }

  /** 3. the status quo: modelcache pull, then the loader over the local files. */
  private void statusQuo() throws IOException {
    Path pulled = work.resolve("pulled");
    for (int r = 0; r < bigRuns; r++) {
      deleteTree(pulled);
      dropCaches();
      long t0 = System.nanoTime();
      double reg0 = cpuSeconds(registry.pid());
      Procs.Result pull = Procs.ok(timeout(), List.of(launcher.toString(), "pull", ref, pulled.toString()));
      double pullS = (System.nanoTime() - t0) / 1e9;
      sample("pull.cpu.registry", (cpuSeconds(registry.pid()) - reg0) / (modelBytes / (double) (1L << 30)));
      sample("pull.rate", modelBytes / pullS / GB);
      List<double[]> trace = load(pulled, t0);
      double total = trace.get(trace.size() - 1)[0];
      sample("pull", pullS);
      sample("pull.load", total - pullS);
      sample("pull.total", total);
      if (r == 0) {
        List<double[]> tl = new ArrayList<>();
        tl.add(new double[] {0, 0});
        tl.add(new double[] {pullS, 0});
        tl.addAll(trace);
        pullTimeline = tl;
      }
      say("download-then-load: pull %.2f s + load %.2f s = %.2f s (%s)", pullS, total - pullS, total,
          pull.output().strip());
    }
    List<Path> local = sourceShards.stream().map(p -> pulled.resolve(p.getFileName())).toList();
    for (int r = 0; r < bigRuns; r++) {
      dropCaches();
      sample("disk", shardBytes / dd(List.of(local)) / GB);
    }
    dd(List.of(local)); // now surely in the page cache
    for (int r = 0; r < runs; r++) {
      sample("native.hot", shardBytes / dd(List.of(local)) / GB);
    }
    say("disk limit (dd, cold): %s GB/s; native page-cache read (dd, hot): %s GB/s", f(med("disk")), f(med("native.hot")));
  }

  /**
   * 4a. mount command, time to every header, time to the first tensor, each on a fresh daemon home
   * (--quick: one daemon for both, so its first-tensor figure starts with shard 1's header cached).
   */
  private void coldSmallSteps() throws IOException {
    Path first = sourceShards.get(0);
    SafetensorsHeader.Tensor t = header(first).loaderOrder().get(0);
    String tensorSha = sha256(first, t.fileBegin(), t.length());
    int expected = 0;
    for (Path p : sourceShards) {
      expected += header(p).tensors().size();
    }
    for (int r = 0; r < runs; r++) {
      BenchDaemon d = daemon();
      try {
        Path mnt = work.resolve("mnt-h");
        dropCaches();
        sample("mount", d.mount(ref, mnt));
        long t0 = System.nanoTime();
        int tensors = 0;
        for (Path p : sourceShards) {
          tensors += header(mnt.resolve(p.getFileName())).tensors().size();
        }
        sample("headers", (System.nanoTime() - t0) / 1e6);
        check(tensors == expected, "headers through the mount list " + tensors + " tensors, the source " + expected);
        if (!quick) {
          d.close();
          d = daemon();
        }
        mnt = work.resolve("mnt-t");
        dropCaches();
        // The launcher's files back in the page cache (a node that ran any modelcache command),
        // the model still cold: separates JVM start from disk from the mount's own work.
        sample("ls", Procs.ok(60, List.of(launcher.toString(), "ls", "--home", d.home.toString())).seconds());
        sample("mount.jvmwarm", d.mount(ref, mnt));
        firstTensor(mnt.resolve(first.getFileName()), t, tensorSha);
      } finally {
        d.close();
      }
    }
    say("cold: mount command %s s (%s s with the launcher's files in the page cache), all headers %s ms, first tensor 4 KiB %s ms, whole first tensor (%s) %s ms",
        f(med("mount")), f(med("mount.jvmwarm")), f(med("headers")), f(med("ttfb")), human(t.length()), f(med("ttft")));
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
      sample("ttfb", (System.nanoTime() - t0) / 1e6);
      for (long off = t.fileBegin() + buf.position(); off < t.fileEnd(); ) {
        buf.clear().limit((int) Math.min(buf.capacity(), t.fileEnd() - off));
        off += readFully(ch, buf, off);
      }
      sample("ttft", (System.nanoTime() - t0) / 1e6);
    }
    check(sha256(f, t.fileBegin(), t.length()).equals(tensorSha), "first tensor bytes through the mount differ");
  }

  /** 4b/5/6. sequential dd cold (fresh home), warm (remount, disk cache), hot (page cache); memory. */
  private void coldWarmHot() throws IOException {
    coldWarmHot("", null);
    if (!quick) { // the same on jnr-fuse, the baseline issue 10's CPU targets are ratios against
      Path cfg = Files.writeString(work.resolve("jnr.yaml"), "fuse:\n  transport: jnr\n");
      coldWarmHot("jnr.", cfg);
    }
    say("ModelCache sequential dd: cold %s GB/s, warm %s GB/s, hot %s GB/s; registry sent %sx the model; daemon peak RSS %s MiB, heap peak %s MiB, live %s MiB",
        f(med("cold")), f(med("warm")), f(med("hot")), f(med("cold.egress")), f(med("rss")), f(med("heap.peak")),
        f(med("heap.live")));
    say("daemon CPU per GiB: cold %s, warm %s, hot %s s (kernel transport, %s passthrough opens on the warm read)%s",
        f(med("cold.cpu.daemon")), f(med("warm.cpu.daemon")), f(med("hot.cpu.daemon")), f(med("warm.passthrough")),
        quick ? "" : String.format(Locale.ROOT, "; jnr: cold %s, warm %s, hot %s s", f(med("jnr.cold.cpu.daemon")),
            f(med("jnr.warm.cpu.daemon")), f(med("jnr.hot.cpu.daemon"))));
  }

  /**
   * Cold, warm (remount, page cache dropped) and hot (again) sequential reads on a fresh daemon,
   * with the daemon's CPU per GiB for each; samples under {@code prefix} ("" for the default
   * transport), the daemon started with {@code config} when not null.
   */
  private void coldWarmHot(String prefix, Path config) throws IOException {
    for (int r = 0; r < bigRuns; r++) {
      try (BenchDaemon d = config == null ? daemon() : daemon("--config", config.toString())) {
        Path mnt = work.resolve("mnt-seq");
        d.startSampling();
        dropCaches();
        long mark = registry.logMark();
        d.mount(ref, mnt);
        CpuUse cpu = new CpuUse(d.pid(), registry.pid());
        sample(prefix + "cold", shardBytes / dd(List.of(through(mnt))) / GB);
        cpu.sample(prefix + "cold", shardBytes);
        sample(prefix + "cold.egress", (double) registry.blobBytesSince(mark) / modelBytes);
        if (prefix.isEmpty()) {
          diagnose(d.metrics());
        }
        sample(prefix + "heap.peak", d.stopSampling() / MIB);
        sample(prefix + "rss", d.peakRss() / MIB);
        sample(prefix + "heap.live", d.liveHeap() / MIB);
        verify(mnt, "cold sequential");
        d.umount(mnt);
        d.mount(ref, mnt);
        dropCaches();
        mark = registry.logMark();
        String m0 = d.metrics();
        cpu = new CpuUse(d.pid(), registry.pid());
        sample(prefix + "warm", shardBytes / dd(List.of(through(mnt))) / GB);
        cpu.sample(prefix + "warm", shardBytes);
        sample(prefix + "warm.egress", (double) registry.blobBytesSince(mark));
        String m1 = d.metrics();
        fuseDelta(prefix + "warm", m0, m1, 1);
        sample(prefix + "warm.passthrough", BenchDaemon.sum(m1, "modelcache_fuse_passthrough_opens_total", "")
            - BenchDaemon.sum(m0, "modelcache_fuse_passthrough_opens_total", ""));
        cpu = new CpuUse(d.pid(), registry.pid());
        for (int i = 0; i < runs; i++) {
          sample(prefix + "hot", shardBytes / dd(List.of(through(mnt))) / GB);
        }
        cpu.sample(prefix + "hot", shardBytes * runs);
        fuseDelta(prefix + "hot", m1, d.metrics(), runs);
        verify(mnt, "warm and hot");
      }
    }
  }


  /**
   * Why the cold read goes as fast as it does, from the daemon's own metrics: the FUSE request size
   * the kernel sent and the time each took, the registry fetches' size and duration.
   */
  private void diagnose(String metrics) throws IOException {
    Files.writeString(out.resolve("metrics-after-cold-read.txt"), metrics);
    double reads = BenchDaemon.sum(metrics, "modelcache_fuse_operation_seconds_count", "op=\"read\"");
    double readSec = BenchDaemon.sum(metrics, "modelcache_fuse_operation_seconds_sum", "op=\"read\"");
    // Not modelcache_mount_read_bytes_total: it reads 0 (the daemon's MountView is only weakly held).
    double readBytes = shardBytes;
    double fetches = BenchDaemon.sum(metrics, "modelcache_fetch_duration_seconds_count", "");
    double fetchSec = BenchDaemon.sum(metrics, "modelcache_fetch_duration_seconds_sum", "");
    double fetched = BenchDaemon.sum(metrics, "modelcache_registry_fetched_bytes_total", "");
    if (reads > 0) {
      sample("diag.fuse.size", readBytes / reads / 1024);
      sample("diag.fuse.ms", readSec / reads * 1e3);
    }
    if (fetches > 0) {
      sample("diag.fetch.size", fetched / fetches / MIB);
      sample("diag.fetch.ms", fetchSec / fetches * 1e3);
      sample("diag.fetch.rate", fetched / fetchSec / GB);
    }
  }

  /**
   * CPU time of the daemon and the registry, and of the whole machine, over one step: on a small
   * machine the cold read is bound by CPU, and these figures show where it goes.
   */
  private final class CpuUse {
    private final long daemonPid;
    private final long registryPid;
    private final double daemon0;
    private final double registry0;
    private final long[] machine0;

    private CpuUse(long daemonPid, long registryPid) throws IOException {
      this.daemonPid = daemonPid;
      this.registryPid = registryPid;
      this.daemon0 = cpuSeconds(daemonPid);
      this.registry0 = cpuSeconds(registryPid);
      this.machine0 = machineTicks();
    }

    void sample(String step, long bytes) throws IOException {
      double gib = bytes / (double) (1L << 30);
      E2eBench.this.sample(step + ".cpu.daemon", (cpuSeconds(daemonPid) - daemon0) / gib);
      E2eBench.this.sample(step + ".cpu.registry", (cpuSeconds(registryPid) - registry0) / gib);
      long[] m = machineTicks();
      double total = m[1] - machine0[1];
      if (total > 0) {
        E2eBench.this.sample(step + ".cpu.busy", (m[0] - machine0[0]) / total * Runtime.getRuntime().availableProcessors());
      }
    }
  }



  /** FUSE read requests the daemon saw between two metrics scrapes, per pass, and their mean time. */
  private void fuseDelta(String step, String before, String after, int passes) {
    String c = "modelcache_fuse_operation_seconds_count";
    String t = "modelcache_fuse_operation_seconds_sum";
    String read = "op=\"read\"";
    double n = BenchDaemon.sum(after, c, read) - BenchDaemon.sum(before, c, read);
    double sec = BenchDaemon.sum(after, t, read) - BenchDaemon.sum(before, t, read);
    sample(step + ".fuse.reads", n / passes);
    if (n > 0) {
      sample(step + ".fuse.us", sec / n * 1e6);
    }
    double attrs = BenchDaemon.sum(after, c, "op=\"getattr\"") - BenchDaemon.sum(before, c, "op=\"getattr\"");
    sample(step + ".fuse.getattr", attrs / passes);
  }

  /** 4c. the loader pattern through a fresh mount, mount included. */
  private void loaderCold() throws IOException {
    for (int r = 0; r < bigRuns; r++) {
      try (BenchDaemon d = daemon()) {
        Path mnt = work.resolve("mnt-load");
        dropCaches();
        long t0 = System.nanoTime();
        CpuUse cpu = new CpuUse(d.pid(), registry.pid());
        double mountS = d.mount(ref, mnt);
        List<double[]> trace = load(mnt, t0);
        cpu.sample("load", shardBytes);
        double total = trace.get(trace.size() - 1)[0];
        sample("load.cold", total);
        if (r == 0) {
          List<double[]> tl = new ArrayList<>();
          tl.add(new double[] {0, 0});
          tl.add(new double[] {mountS, 0});
          tl.addAll(trace);
          mountTimeline = tl;
        }
        verify(mnt, "loader pattern");
        say("ModelCache cold loader: %.2f s end to end (mount %.2f s)", total, mountS);
      }
    }
  }

  /**
   * 7. four readers on one mount; two mounts of the same model; registry egress against the model
   * size. --quick does both at once on one daemon (two mounts, two readers each).
   */
  private void concurrency() throws IOException {
    if (!quick) {
      try (BenchDaemon d = daemon()) {
        Path mnt = work.resolve("mnt-c");
        dropCaches();
        long mark = registry.logMark();
        d.mount(ref, mnt);
        List<Path> files = through(mnt);
        double s = dd(List.of(files, files, files, files));
        sample("conc4", 4 * shardBytes / s / GB);
        sample("conc4.egress", (double) registry.blobBytesSince(mark) / modelBytes);
        verify(mnt, "4 readers");
      }
    }
    try (BenchDaemon d = daemon()) {
      Path a = work.resolve("mnt-a");
      Path b = work.resolve("mnt-b");
      dropCaches();
      long mark = registry.logMark();
      d.mount(ref, a);
      d.mount(ref, b);
      List<List<Path>> readers = quick ? List.of(through(a), through(a), through(b), through(b))
          : List.of(through(a), through(b));
      double s = dd(readers);
      sample("mounts2", readers.size() * shardBytes / s / GB);
      sample("mounts2.egress", (double) registry.blobBytesSince(mark) / modelBytes);
      verify(a, "2 mounts (first)");
      verify(b, "2 mounts (second)");
    }
    say("concurrency: 4 readers %s GB/s delivered, registry sent %sx the model; 2 mounts %s GB/s, registry sent %sx",
        f(med("conc4")), f(med("conc4.egress")), f(med("mounts2")), f(med("mounts2.egress")));
  }

  /**
   * Issue 13: a reader in the middle of a shard (1 MiB reads at a loader's pace, page cache dropped,
   * the model in the disk cache) while the daemon is killed with SIGKILL and started again on the same
   * home with restart.keepMounts: the longest single read is the stall it sees; the restarted
   * daemon's start-until-ready time is beside it. Bytes are checked (sha256).
   */
  private void restartStall() throws IOException {
    Path home = work.resolve("home-restart");
    Path cfg = Files.createDirectories(home).resolve("config.yaml");
    // Passthrough off: the shard is complete in the cache, and a passthrough reader never waits for a
    // daemon at all; the daemon path (a file still streaming in) is the stall to measure.
    Files.writeString(cfg, "restart:\n  keepMounts: true\nfuse:\n  passthrough: false\n");
    Path mnt = work.resolve("mnt-restart");
    BenchDaemon first = BenchDaemon.start(launcher, home, 2 * modelBytes + (1L << 30), "--config", cfg.toString());
    open.push(first);
    first.mount(ref, mnt);
    Path shard = through(mnt).get(0);
    String want = sourceSha.get(mnt.relativize(shard).toString());
    check(want != null && want.equals(sha256(shard)), "restart: the shard reads exact before the restarts");
    BenchDaemon current = first;
    for (int i = 0; i < runs; i++) {
      dropCaches();
      Process reader = new ProcessBuilder("python3", root.resolve("bench/scripts/stall_reader.py").toString(),
          shard.toString(), "10").redirectErrorStream(true).start();
      java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(reader.getInputStream()));
      String line = out.readLine();
      check("STARTED".equals(line), "restart: the reader started (" + line + ")");
      current.kill();
      open.remove(current);
      long t0 = System.nanoTime();
      current = BenchDaemon.start(launcher, home, 2 * modelBytes + (1L << 30), "--config", cfg.toString());
      sample("restart.start", (System.nanoTime() - t0) / 1e9);
      open.push(current);
      current.adopt(mnt);
      String last = out.readLine();
      try {
        check(reader.waitFor(timeout(), java.util.concurrent.TimeUnit.SECONDS) && reader.exitValue() == 0, "restart: the reader exited 0");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted", e);
      }
      String[] f = last == null ? new String[0] : last.split(" ");
      check(f.length == 2 && f[0].equals(want), "restart: the reader's sha256 is the source's (" + last + ")");
      sample("restart.stall", Double.parseDouble(f[1]));
      check(current.log().contains("took over the live mount"), "restart: the new daemon took the mount over");
    }
    current.close();
    open.remove(current);
    say("restart: reader stall median %s s, max %s s; restarted daemon ready in %s s",
        f(med("restart.stall")), f(s("restart.stall").stream().mapToDouble(Double::doubleValue).max().orElse(0)),
        f(med("restart.start")));
  }

  private void writeReport() throws IOException {
    double netTime = shardBytes / (med("net") * GB);
    Report rp = report;
    new E2eRows(this::s).addTo(rp, netTime);
    if (!dropWorks) {
      rp.notes.add("could not drop the page cache (not root?): \"cold\" figures are not cold");
    }
    rp.notes.add("network time = shard bytes / network limit = " + f(netTime) + " s");
    List<String> header = List.of(
        "- date: " + Instant.now(),
        "- command: bench/run " + (quick ? "--quick" : "--size " + human(size) + " --shards " + shards
            + " --runs " + runs + " --big-runs " + bigRuns),
        "- model: " + human(modelBytes) + " in " + sourceShards.size() + " safetensors shards ("
            + shardBytes + " shard bytes), BF16, SyntheticModel seed 42",
        "- machine: " + Runtime.getRuntime().availableProcessors() + " CPUs, " + memTotal() + ", kernel "
            + System.getProperty("os.version") + ", JDK " + System.getProperty("java.version"),
        "- load average (1, 5, 15 min) at the start: " + loadStart + "; at the end: " + loadAvg()
            + " (other work on the machine distorts every figure; compare only within one run)",
        "- commit: " + git("rev-parse", "--short", "HEAD"),
        "- GB/s = 10^9 bytes/s; medians of the runs column; ratios are median/median");
    rp.write(out, "ModelCache end-to-end benchmark", header);
    Chart.write(out.resolve("loader-timeline.png"), "Bytes available to the loader: download-then-load vs ModelCache cold",
        List.of(new Chart.Series("download-then-load (modelcache pull, then load)", new Color(200, 60, 40), pullTimeline),
            new Chart.Series("ModelCache cold (mount, then load through FUSE)", new Color(40, 100, 200), mountTimeline)));
    Files.writeString(out.resolve("timeline.csv"), timelineCsv());
    System.out.println();
    System.out.println(rp.markdown("ModelCache end-to-end benchmark", header));
    say("wrote %s", out);
  }

  private String timelineCsv() {
    StringBuilder b = new StringBuilder("series,seconds,bytes\n");
    pullTimeline.forEach(p -> b.append("download-then-load,").append(p[0]).append(',').append((long) p[1]).append('\n'));
    mountTimeline.forEach(p -> b.append("modelcache-cold,").append(p[0]).append(',').append((long) p[1]).append('\n'));
    return b.toString();
  }

  // ------------------------------------------------------------------ measurement helpers

  private BenchDaemon daemon(String... extra) throws IOException {
    long t0 = System.nanoTime();
    BenchDaemon d = BenchDaemon.start(launcher, work.resolve("home-" + (++homes)), 2 * modelBytes + (1L << 30), extra);
    open.push(d);
    sample("daemon.start", (System.nanoTime() - t0) / 1e9);
    return d;
  }

  private List<Path> through(Path mnt) {
    return sourceShards.stream().map(p -> mnt.resolve(p.getFileName())).toList();
  }

  /** Runs one dd loop per list concurrently (bs=1M, each file in order); returns wall seconds. */
  private double dd(List<List<Path>> readers) throws IOException {
    StringBuilder b = new StringBuilder("pids=(); ");
    for (List<Path> files : readers) {
      b.append("( for f in ");
      files.forEach(p -> b.append(Procs.q(p)).append(' '));
      b.append("; do dd if=\"$f\" of=/dev/null bs=1M status=none; done ) & pids+=($!); ");
    }
    b.append("for p in \"${pids[@]}\"; do wait \"$p\"; done");
    return Procs.bash(timeout() * readers.size(), b.toString()).seconds();
  }

  /** Runs the loader over the shards in {@code dir}; returns its trace as (seconds since t0, bytes). */
  private List<double[]> load(Path dir, long t0Nanos) throws IOException {
    Path trace = work.resolve("trace.txt");
    List<String> cmd = new ArrayList<>(List.of("python3", loaderScript.toString(), "--all", "--trace", trace.toString()));
    sourceShards.forEach(p -> cmd.add(dir.resolve(p.getFileName()).toString()));
    Procs.ok(timeout(), cmd);
    List<double[]> pts = new ArrayList<>();
    double t0 = t0Nanos / 1e9;
    for (String line : Files.readAllLines(trace)) {
      String[] f = line.trim().split(" ");
      pts.add(new double[] {Double.parseDouble(f[0]) - t0, Double.parseDouble(f[1])});
    }
    Files.delete(trace);
    check(!pts.isEmpty() && pts.get(pts.size() - 1)[1] > 0.99 * shardBytes,
        "the loader read " + (pts.isEmpty() ? 0 : (long) pts.get(pts.size() - 1)[1]) + " bytes");
    return pts;
  }

  private void dropCaches() throws IOException {
    if (!dropWorks) {
      return;
    }
    Procs.Result r = Procs.run(120, List.of("bash", "-c", "sync && echo 3 > /proc/sys/vm/drop_caches"));
    if (r.exit() != 0) {
      dropWorks = false;
      say("WARNING: cannot drop the page cache (%s): cold figures will not be cold", r.output().strip());
    }
  }

  /** sha256 of every shard through the mount must equal the source's. */
  private void verify(Path mnt, String step) throws IOException {
    List<String> bad = through(mnt).parallelStream().filter(p -> {
      try {
        return !sha256(p).equals(sourceSha.get(p.getFileName().toString()));
      } catch (IOException e) {
        return true;
      }
    }).map(p -> p.getFileName().toString()).collect(Collectors.toList());
    check(bad.isEmpty(), step + ": wrong bytes through the mount in " + bad);
  }






  private long timeout() {
    return 120 + size / (10L << 20); // at 10 MB/s something is badly wrong
  }

  private void sample(String key, double v) {
    samples.computeIfAbsent(key, k -> new ArrayList<>()).add(v);
  }

  private List<Double> s(String key) {
    return samples.getOrDefault(key, List.of());
  }

  private double med(String key) {
    return Report.median(s(key));
  }






  private String git(String... args) {
    List<String> cmd = new ArrayList<>(List.of("git", "-C", root.toString()));
    cmd.addAll(List.of(args));
    try {
      Procs.Result r = Procs.run(10, cmd);
      return r.exit() == 0 ? r.output().strip() : "unknown";
    } catch (IOException e) {
      return "unknown";
    }
  }


  // ------------------------------------------------------------------ cleanup

  /** Idempotent: unmounts, stops daemons and the registry, deletes the work dir unless --keep. */
  private synchronized void cleanup() {
    while (!open.isEmpty()) {
      try {
        open.pop().close();
      } catch (Exception e) {
        System.err.println("warning: cleanup: " + e);
      }
    }
    if (registry != null) {
      registry.close();
      registry = null;
    }
    if (work != null && out != null) {
      saveLogs();
    }
    if (work != null && !keep) {
      try {
        if (anyMountUnder(work)) {
          System.err.println("warning: a mount under " + work + " is still active; not deleting it");
        } else {
          deleteTree(work);
        }
      } catch (IOException e) {
        System.err.println("warning: could not delete " + work + ": " + e.getMessage());
      }
      work = null;
    }
  }

  /** Copies the daemons' and the registry's logs next to the results (the scratch dir goes away). */
  private void saveLogs() {
    try (Stream<Path> s = Files.walk(work, 2)) {
      Path logs = Files.createDirectories(out.resolve("logs"));
      for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".log")).toList()) {
        Files.copy(p, logs.resolve(p.getParent().getFileName() + "-" + p.getFileName()),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException | RuntimeException e) {
      System.err.println("warning: could not save logs: " + e);
    }
  }


}
