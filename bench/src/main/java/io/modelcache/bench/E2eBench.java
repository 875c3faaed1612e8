package io.modelcache.bench;

import static io.modelcache.bench.BenchUtil.anyMountUnder;
import static io.modelcache.bench.BenchUtil.check;
import static io.modelcache.bench.BenchUtil.deleteTree;
import static io.modelcache.bench.BenchUtil.f;
import static io.modelcache.bench.BenchUtil.human;
import static io.modelcache.bench.BenchUtil.loadAvg;
import static io.modelcache.bench.BenchUtil.memTotal;
import static io.modelcache.bench.BenchUtil.say;
import static io.modelcache.bench.BenchUtil.sha256;

import io.modelcache.safetensors.SyntheticModel;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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
 * <p>This class holds the options, the run's state (registry, model, samples) and the measurement
 * helpers every step uses; the steps are their own classes, in the order they run:
 * {@link E2eBaselines} (the model, the limits, the status quo), {@link E2eColdStart} (mount,
 * headers, first tensor, the loader cold), {@link E2eSequential} (cold, warm and hot sequential
 * reads, {@link CpuUse} per step), {@link E2eConcurrency} (readers and mounts at once) and
 * {@link E2eRestartStall} (a reader across a daemon restart); {@link E2eRows} turns the samples into
 * the report's rows.
 *
 * <p>Single-threaded orchestration; child processes do the reading. Everything started is stopped
 * in {@code finally} and by a shutdown hook (unmount, stop daemons, stop the registry).
 */
public final class E2eBench {
  static final double GB = 1e9;
  static final double MIB = 1 << 20;

  // Options.
  long size = 4L << 30;
  int shards = 4;
  int runs = 3;
  int bigRuns = 1;
  boolean quick;
  private boolean keep;
  /**
   * Only the start-up steps (mount command, headers, first tensor) after the network baseline:
   * what must stay flat with model size (issue 12: headers under 50 ms for 1 GiB and 16 GiB alike)
   * can be measured on a big model without hours of whole-model steps.
   */
  private boolean startupOnly;
  /**
   * Daemons run with the daemon's AOT cache, as the shipped unit runs them (MODELCACHE_DAEMON_AOT):
   * one training daemon reads the model cold before any step is measured. --no-daemon-aot: a fresh
   * JIT in every daemon, as before.
   */
  private boolean daemonAot = true;
  /** The environment of every measured daemon (the AOT cache's file, once trained). */
  Map<String, String> daemonEnv = Map.of();
  Path out;
  private Path workParent = Path.of(System.getProperty("java.io.tmpdir"));
  Path root = Path.of(System.getProperty("bench.root", ".")).toAbsolutePath().normalize();
  Path launcher;
  private Path loaderScript;

  // Run state.
  Path work;
  BenchRegistry registry;
  final ArrayDeque<AutoCloseable> open = new ArrayDeque<>();
  private final Map<String, List<Double>> samples = new LinkedHashMap<>();
  private final Report report = new Report();
  String ref;
  List<Path> sourceShards;
  Map<String, String> sourceSha = new LinkedHashMap<>();
  long shardBytes;
  long modelBytes;
  private boolean dropWorks = true;
  private int homes;
  List<double[]> pullTimeline = List.of();
  List<double[]> mountTimeline = List.of();
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
        case "--startup-only" -> startupOnly = true;
        case "--no-daemon-aot" -> daemonAot = false;
        case "--quick" -> {
          quick = true;
          size = 128L << 20;
          shards = 2;
          runs = 1;
          bigRuns = 1;
        }
        case "-h", "--help" -> throw new Usage(
            "usage: bench/run [--size 4G] [--shards 4] [--runs 3] [--big-runs 1] [--quick] [--out DIR] "
                + "[--work-dir DIR] [--launcher PATH] [--keep] [--startup-only] [--no-daemon-aot]");
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
    E2eBaselines baselines = new E2eBaselines(this);
    baselines.prepareModel();
    baselines.limits();
    if (daemonAot && !quick) { // the quick model is too small to train on (fewer than 256 FUSE reads)
      trainDaemonAot();
    }
    E2eColdStart coldStart = new E2eColdStart(this);
    if (startupOnly) {
      coldStart.coldSmallSteps();
      writeReport();
      return;
    }
    baselines.statusQuo();
    coldStart.coldSmallSteps();
    new E2eSequential(this).coldWarmHot();
    coldStart.loaderCold();
    new E2eConcurrency(this).concurrency();
    new E2eRestartStall(this).restartStall();
    if (!quick) { // kernel and jnr side by side: threads and RSS with 1 and 50 mounts, serving CPU
      TransportBench.measure(work.resolve("transports"), runs, this::sample);
    }
    writeReport();
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
            + " --runs " + runs + " --big-runs " + bigRuns + (startupOnly ? " --startup-only" : "")),
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

  /**
   * Trains the daemon's AOT cache the way a node's first daemon does: a daemon started with
   * MODELCACHE_DAEMON_AOT and no cache yet reads the model cold through a mount, and its stop writes
   * the cache. Every measured daemon after it loads that cache.
   */
  private void trainDaemonAot() throws IOException {
    Path aot = work.resolve("daemon.aot");
    long t0 = System.nanoTime();
    Map<String, String> env = Map.of("MODELCACHE_DAEMON_AOT", aot.toString());
    try (BenchDaemon d = BenchDaemon.start(launcher, work.resolve("home-aot-training"), 2 * modelBytes + (1L << 30), env)) {
      Path mnt = work.resolve("mnt-aot-training");
      d.mount(ref, mnt);
      dd(List.of(through(mnt)));
      d.umount(mnt);
    }
    check(Files.isRegularFile(aot) && Files.size(aot) > 0, "the training daemon wrote no AOT cache at " + aot);
    daemonEnv = env;
    double secs = (System.nanoTime() - t0) / 1e9;
    report.notes.add(String.format(java.util.Locale.ROOT,
        "daemons load the daemon's AOT cache (MODELCACHE_DAEMON_AOT, as the shipped unit runs them), trained by one cold read "
            + "of the model before any step (%.1f s; --no-daemon-aot: a fresh JIT in each daemon)", secs));
    say("daemon AOT cache trained in %.1f s (%s, %d MiB)", secs, aot, Files.size(aot) >> 20);
  }

  // ------------------------------------------------------------------ measurement helpers

  BenchDaemon daemon(String... extra) throws IOException {
    long t0 = System.nanoTime();
    BenchDaemon d = BenchDaemon.start(launcher, work.resolve("home-" + (++homes)), 2 * modelBytes + (1L << 30), daemonEnv,
        extra);
    open.push(d);
    sample("daemon.start", (System.nanoTime() - t0) / 1e9);
    return d;
  }

  List<Path> through(Path mnt) {
    return sourceShards.stream().map(p -> mnt.resolve(p.getFileName())).toList();
  }

  /** Runs one dd loop per list concurrently (bs=1M, each file in order); returns wall seconds. */
  double dd(List<List<Path>> readers) throws IOException {
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
  List<double[]> load(Path dir, long t0Nanos) throws IOException {
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

  void dropCaches() throws IOException {
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
  void verify(Path mnt, String step) throws IOException {
    List<String> bad = through(mnt).parallelStream().filter(p -> {
      try {
        return !sha256(p).equals(sourceSha.get(p.getFileName().toString()));
      } catch (IOException e) {
        return true;
      }
    }).map(p -> p.getFileName().toString()).collect(Collectors.toList());
    check(bad.isEmpty(), step + ": wrong bytes through the mount in " + bad);
  }

  long timeout() {
    return 120 + size / (10L << 20); // at 10 MB/s something is badly wrong
  }

  void sample(String key, double v) {
    samples.computeIfAbsent(key, k -> new ArrayList<>()).add(v);
  }

  List<Double> s(String key) {
    return samples.getOrDefault(key, List.of());
  }

  double med(String key) {
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
