package io.modelcache.bench;

import io.modelcache.safetensors.SyntheticModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Where the CPU of the cold path goes ({@code bench/profile}): pushes a synthetic model to a
 * loopback docker-registry, then per run, page cache dropped before each step and all in the same
 * minutes: curl of every shard blob (the baseline), {@code modelcache pull} without and with a JFR
 * recording, and a cold {@code dd bs=1M} of every shard through a fresh mount with a JFR recording
 * of the daemon started and stopped around the read ({@code jcmd JFR.start}, CPU-time sampler at
 * 10 ms). Each recording is broken down by {@link JfrBreakdown} against the process's own CPU
 * seconds from /proc, and the same window split by thread ({@link ThreadCpu}; {@code --no-jfr} keeps
 * only that, to see what the recording itself costs). Writes {@code profile.md} and the recordings
 * into the output directory.
 * Bytes read through the mount are checked (sha256). Needs root. Not part of {@code bench/run}.
 */
public final class CpuProfile {
  private static final String SAMPLER = "jdk.CPUTimeSample#enabled=true jdk.CPUTimeSample#throttle=10ms";
  private static final String COMPILATIONS =
      "jdk.Compilation#enabled=true jdk.Compilation#threshold=0ms jdk.Deoptimization#enabled=true";
  private static final double GB = 1e9;

  private CpuProfile() {}

  public static void main(String[] args) throws Exception {
    long size = 1L << 30;
    int shards = 2;
    int runs = 3;
    Path root = Path.of(System.getProperty("bench.root", ".")).toAbsolutePath();
    Path launcher = root.resolve("cli/target/modelcache");
    Path out = null;
    Path workParent = Path.of(System.getProperty("java.io.tmpdir"));
    boolean pull = true;
    boolean mount = true;
    boolean record = true;
    String events = SAMPLER;
    List<String> variants = List.of();
    List<String> daemonVariants = List.of("");
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--size" -> size = SyntheticModel.parseSize(args[++i]);
        case "--shards" -> shards = Integer.parseInt(args[++i]);
        case "--runs" -> runs = Integer.parseInt(args[++i]);
        case "--out" -> out = Path.of(args[++i]).toAbsolutePath();
        case "--work-dir" -> workParent = Path.of(args[++i]).toAbsolutePath();
        case "--launcher" -> launcher = Path.of(args[++i]).toAbsolutePath();
        case "--no-pull" -> pull = false;
        case "--no-mount" -> mount = false;
        case "--no-jfr" -> record = false;
        // Every JIT compilation and deoptimization in the recording (jfr print --events jdk.Compilation).
        case "--compilations" -> events = SAMPLER + " " + COMPILATIONS;
        case "--daemon-variants" -> daemonVariants = List.of(args[++i].split("\\|"));
        case "--pull-variants" -> variants = List.of(args[++i].split("\\|"));
        default -> {
          System.out.println("usage: bench/profile [--size 1G] [--shards 2] [--runs 3] [--out DIR] [--work-dir DIR] "
              + "[--launcher PATH] [--no-pull] [--no-mount] [--no-jfr] [--compilations] [--pull-variants 'JVM OPTS|JVM OPTS'] "
              + "[--daemon-variants '[jnr:][warm[N]:]JVM OPTS|...']");
          System.exit(args[i].equals("-h") || args[i].equals("--help") ? 0 : 2);
        }
      }
    }
    if (out == null) {
      out = root.resolve("bench/results").resolve("profile-" + java.time.format.DateTimeFormatter
          .ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(java.time.ZoneOffset.UTC).format(java.time.Instant.now()));
    }
    Files.createDirectories(out);
    Path work = Files.createTempDirectory(workParent, "modelcache-profile.");
    List<BenchDaemon> daemons = new ArrayList<>();
    Thread hook = new Thread(() -> cleanup(daemons, work), "profile-cleanup");
    Runtime.getRuntime().addShutdownHook(hook);
    StringBuilder md = new StringBuilder("# Cold-path CPU profile\n\n");
    md.append(String.format(Locale.ROOT, "model %s in %d shards, %d runs, %d CPUs, load average at start %s%n",
        BenchUtil.human(size), shards, runs, Runtime.getRuntime().availableProcessors(), loadAvg()));
    try (BenchRegistry reg = BenchRegistry.start(work.resolve("registry"))) {
      Path model = work.resolve("model");
      SyntheticModel.Result res = SyntheticModel.generate(model, SyntheticModel.Spec.of(size, shards));
      List<Path> shardFiles = res.files().stream().filter(f -> f.endsWith(".safetensors")).sorted()
          .map(model::resolve).toList();
      long shardBytes = 0;
      Map<String, String> sha = new LinkedHashMap<>();
      for (Path p : shardFiles) {
        shardBytes += Files.size(p);
        sha.put(p.getFileName().toString(), sha256(p));
      }
      long modelBytes;
      try (Stream<Path> s = Files.list(model)) {
        modelBytes = s.mapToLong(p -> p.toFile().length()).sum();
      }
      String ref = reg.hostPort() + "/profile/model:v1";
      Procs.ok(1800, List.of(launcher.toString(), "push", model.toString(), ref));
      // Raw layers (push's default): each shard's blob digest is its sha256.
      List<String> blobUrls = sha.values().stream().map(h -> reg.base() + "/v2/profile/model/blobs/sha256:" + h).toList();
      Map<String, List<Double>> fig = new LinkedHashMap<>();
      for (int run = 1; run <= runs; run++) {
        say("run %d of %d (load %s)", run, runs, loadAvg());
        // Baseline: curl of the same blobs, whole-blob GETs.
        drop();
        double r0 = BenchUtil.cpuSeconds(reg.pid());
        StringBuilder curl = new StringBuilder();
        blobUrls.forEach(u -> curl.append("curl -sSf -o /dev/null ").append(Procs.q(u)).append('\n'));
        Procs.Result c = Procs.bash(1800, curl.toString());
        add(fig, "curl GB/s", shardBytes / c.seconds() / GB);
        add(fig, "registry CPU-s/GiB, curl", (BenchUtil.cpuSeconds(reg.pid()) - r0) / gib(shardBytes));
        if (pull) {
          for (boolean jfr : new boolean[] {false, true}) {
            Path dest = work.resolve("pulled");
            BenchUtil.deleteTree(dest);
            drop();
            Path rec = out.resolve("pull-" + run + ".jfr");
            String env = jfr ? "MODELCACHE_JVM_OPTS=" + Procs.q("-XX:StartFlightRecording=filename=" + rec + ","
                + SAMPLER.replace(' ', ',')) + " " : "";
            r0 = BenchUtil.cpuSeconds(reg.pid());
            Procs.Result p = Procs.bash(1800, "TIMEFORMAT='%U %S'; { time " + env + Procs.q(launcher) + " pull "
                + Procs.q(ref) + " " + Procs.q(dest) + " >/dev/null; } 2>&1");
            String[] us = p.output().strip().split("\\s+");
            double cpu = Double.parseDouble(us[us.length - 2]) + Double.parseDouble(us[us.length - 1]);
            String tag = jfr ? "pull with JFR" : "pull";
            add(fig, tag + " GB/s", modelBytes / p.seconds() / GB);
            add(fig, tag + " CPU-s/GiB", cpu / gib(modelBytes));
            if (!jfr) {
              add(fig, "pull / curl", modelBytes / p.seconds() / GB / last(fig, "curl GB/s"));
              add(fig, "registry CPU-s/GiB, pull", (BenchUtil.cpuSeconds(reg.pid()) - r0) / gib(modelBytes));
            } else {
              md.append(JfrBreakdown.table("modelcache pull, run " + run + " (whole process, JVM start included)",
                  JfrBreakdown.read(rec, cpu, true), cpu, modelBytes));
            }
            for (Path s : shardFiles) {
              check(sha.get(s.getFileName().toString()).equals(sha256(dest.resolve(s.getFileName()))),
                  "pulled " + s.getFileName() + " differs from the source");
            }
          }
        }
        // Launcher JVM settings for pull, each as MODELCACHE_JVM_OPTS (which also turns the AOT cache off).
        for (int v = 0; v < variants.size(); v++) {
          Path dest = work.resolve("pulled");
          BenchUtil.deleteTree(dest);
          drop();
          Procs.Result p = Procs.bash(1800, "TIMEFORMAT='%U %S'; { time MODELCACHE_JVM_OPTS=" + Procs.q(variants.get(v))
              + " " + Procs.q(launcher) + " pull " + Procs.q(ref) + " " + Procs.q(dest) + " >/dev/null; } 2>&1");
          String[] us = p.output().strip().split("\\s+");
          double cpu = Double.parseDouble(us[us.length - 2]) + Double.parseDouble(us[us.length - 1]);
          add(fig, "pull [" + variants.get(v) + "] GB/s", modelBytes / p.seconds() / GB);
          add(fig, "pull [" + variants.get(v) + "] CPU-s/GiB", cpu / gib(modelBytes));
          add(fig, "pull [" + variants.get(v) + "] / curl", modelBytes / p.seconds() / GB / last(fig, "curl GB/s"));
        }
        for (int dv = 0; mount && dv < daemonVariants.size(); dv++) {
          // "warm:OPTS": the daemon first reads the whole model once (mount, dd, umount, cache evict),
          // so the measured read runs on compiled code, as on a daemon that has served models before;
          // "warmN:OPTS" does that N times (1 MiB requests reach C2's thresholds only after GiBs).
          // A leading "jnr:" serves the mount with jnr-fuse instead of the kernel transport.
          String variant = daemonVariants.get(dv);
          boolean jnr = variant.startsWith("jnr:");
          variant = jnr ? variant.substring(4) : variant;
          var wm = java.util.regex.Pattern.compile("^warm([0-9]*):").matcher(variant);
          boolean warm = wm.find();
          int passes = !warm ? 0 : wm.group(1).isEmpty() ? 1 : Integer.parseInt(wm.group(1));
          String dopts = warm ? variant.substring(wm.end()) : variant;
          String tag = (jnr ? " [jnr]" : "")
              + (warm ? passes == 1 ? " [JIT warm]" : " [JIT warm, " + passes + " passes]" : "")
              + (dopts.isBlank() ? "" : " [" + dopts + "]");
          String[] config = jnr
              ? new String[] {"--config", Files.writeString(work.resolve("jnr.yaml"), "fuse:\n  transport: jnr\n").toString()}
              : new String[0];
          BenchDaemon d = BenchDaemon.start(launcher, work.resolve("home-" + run + "-" + dv),
              2 * modelBytes + (1L << 30), Map.of("MODELCACHE_DAEMON_JVM_OPTS", ("-Xms64m -Xmx512m " + dopts).strip()),
              config);
          daemons.add(d);
          Path mnt = work.resolve("mnt-" + run + "-" + dv);
          StringBuilder dd = new StringBuilder();
          shardFiles.forEach(s -> dd.append("dd if=").append(Procs.q(mnt.resolve(s.getFileName())))
              .append(" of=/dev/null bs=1M status=none\n"));
          for (int pass = 0; pass < passes; pass++) {
            d.mount(ref, mnt);
            Procs.bash(1800, dd.toString());
            d.umount(mnt);
            Procs.ok(120, List.of(launcher.toString(), "cache", "evict", "--home", d.home.toString(), ref));
          }
          // The window opens before the mount: the background fill starts with it and is part of
          // what a cold read costs (it may bring in most of the model before dd asks for it).
          drop();
          String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
          if (record) {
            Procs.ok(60, List.of("bash", "-c", jcmd + " " + d.pid() + " JFR.start name=cold " + events));
          }
          String m0 = d.metrics();
          double d0 = BenchUtil.cpuSeconds(d.pid());
          var threads0 = ThreadCpu.snapshot(d.pid());
          r0 = BenchUtil.cpuSeconds(reg.pid());
          long t0 = System.nanoTime();
          d.mount(ref, mnt);
          Procs.bash(1800, dd.toString());
          double wall = (System.nanoTime() - t0) / 1e9;
          double cpu = BenchUtil.cpuSeconds(d.pid()) - d0;
          var threads = ThreadCpu.between(threads0, ThreadCpu.snapshot(d.pid()), cpu);
          double regCpu = BenchUtil.cpuSeconds(reg.pid()) - r0;
          Path rec = out.resolve("cold-" + run + "-" + dv + ".jfr");
          if (record) {
            Procs.ok(120, List.of(jcmd, String.valueOf(d.pid()), "JFR.stop", "name=cold", "filename=" + rec));
          }
          add(fig, "cold mount + read GB/s" + tag, shardBytes / wall / GB);
          add(fig, "cold mount + read / curl" + tag, shardBytes / wall / GB / last(fig, "curl GB/s"));
          add(fig, "daemon CPU-s/GiB, cold read" + tag, cpu / gib(shardBytes));
          add(fig, "registry CPU-s/GiB, cold read" + tag, regCpu / gib(shardBytes));
          // How the bytes reached dd: a shard complete before dd opens it is served by passthrough
          // (no FUSE read, no reply copy in the daemon); of the rest, lent replies skip one copy.
          String m1 = d.metrics();
          add(fig, "passthrough opens, cold read" + tag, delta(m0, m1, "modelcache_fuse_passthrough_opens_total"));
          add(fig, "GiB lent from memory, cold read" + tag, delta(m0, m1, "modelcache_cache_lent_bytes_total") / (1L << 30));
          // How the registry was asked: range requests per GiB and their mean size (its CPU per GiB
          // falls with larger requests; curl's whole-blob GETs are the floor).
          double requests = delta(m0, m1, "modelcache_fetch_duration_seconds_count");
          add(fig, "range requests per GiB, cold read" + tag, requests / gib(shardBytes));
          add(fig, "MiB per range request, cold read" + tag,
              requests == 0 ? 0 : delta(m0, m1, "modelcache_registry_fetched_bytes_total") / requests / (1 << 20));
          if (record) {
            md.append(JfrBreakdown.table("cold mount + dd of every shard" + tag + ", run " + run + " (daemon, from before the mount to the last byte)",
                JfrBreakdown.read(rec, cpu, false), cpu, shardBytes));
          }
          md.append(ThreadCpu.table("the same window" + tag + ", run " + run, threads, shardBytes));
          for (Path s : shardFiles) {
            check(sha.get(s.getFileName().toString()).equals(sha256(mnt.resolve(s.getFileName()))),
                "bytes through the mount differ from the source: " + s.getFileName());
          }
          d.close();
          daemons.remove(d);
        }
      }
      StringBuilder sum = new StringBuilder("\n## Figures (median of the runs; all values in run order)\n\n"
          + "| figure | median | runs |\n|---|---:|---|\n");
      fig.forEach((k, v) -> sum.append(String.format(Locale.ROOT, "| %s | %.3f | %s |%n", k, median(v),
          v.stream().map(x -> String.format(Locale.ROOT, "%.3f", x)).toList())));
      sum.append("\nload average at the end: ").append(loadAvg()).append('\n');
      md.insert(md.indexOf("\n") + 1, sum);
    } finally {
      cleanup(daemons, work);
      Runtime.getRuntime().removeShutdownHook(hook);
    }
    Files.writeString(out.resolve("profile.md"), md);
    System.out.println(md);
    say("wrote %s", out.resolve("profile.md"));
  }

  private static void cleanup(List<BenchDaemon> daemons, Path work) {
    for (BenchDaemon d : List.copyOf(daemons)) {
      d.close();
      daemons.remove(d);
    }
    try {
      BenchUtil.deleteTree(work);
    } catch (IOException e) {
      System.err.println("warning: could not delete " + work + ": " + e.getMessage());
    }
  }

  private static double delta(String before, String after, String counter) {
    return BenchDaemon.sum(after, counter, "") - BenchDaemon.sum(before, counter, "");
  }

  private static void add(Map<String, List<Double>> fig, String k, double v) {
    fig.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
  }

  private static double last(Map<String, List<Double>> fig, String k) {
    List<Double> v = fig.get(k);
    return v.get(v.size() - 1);
  }

  static double median(List<Double> v) {
    List<Double> s = new ArrayList<>(v);
    s.sort(null);
    int n = s.size();
    return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
  }

  private static double gib(long bytes) {
    return bytes / (double) (1L << 30);
  }

  private static void drop() throws IOException {
    Procs.bash(120, "sync; echo 3 > /proc/sys/vm/drop_caches");
  }

  private static String sha256(Path p) throws IOException {
    return Procs.ok(600, List.of("sha256sum", p.toString())).output().split("\\s+")[0];
  }

  private static void check(boolean ok, String what) throws IOException {
    if (!ok) {
      throw new IOException(what);
    }
  }

  private static String loadAvg() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException e) {
      return "?";
    }
  }

  private static void say(String fmt, Object... a) {
    System.out.printf(Locale.ROOT, "[profile] " + fmt + "%n", a);
  }
}
