package io.modelcache.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code modelcache daemon} child with its own home, metrics on 127.0.0.1:0, and the mounts the
 * benchmark made through it. {@link #close} unmounts them and stops the daemon (SIGTERM, with
 * {@code --unmount-on-exit}; then SIGKILL), with bounded waits. Used from the benchmark's main thread, except the heap sampler.
 */
final class BenchDaemon implements AutoCloseable {
  private static final Pattern READY = Pattern.compile("metrics on [^:\\s]+:(\\d+)");
  private static final Pattern HEAP = Pattern.compile("^jvm_memory_used_bytes\\{[^}]*area=\"heap\"[^}]*\\} (\\S+)$",
      Pattern.MULTILINE);
  private final Path launcher;
  final Path home;
  private final Process process;
  private final int metricsPort;
  private final List<Path> mounts = new ArrayList<>();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private final AtomicLong heapPeak = new AtomicLong();
  private volatile Thread sampler;

  private BenchDaemon(Path launcher, Path home, Process process, int metricsPort) {
    this.launcher = launcher;
    this.home = home;
    this.process = process;
    this.metricsPort = metricsPort;
  }

  static BenchDaemon start(Path launcher, Path home, long cacheBytes, String... extra) throws IOException {
    return start(launcher, home, cacheBytes, java.util.Map.of(), extra);
  }

  /** Like {@link #start(Path, Path, long, String...)} with extra environment (e.g. the daemon's JVM options). */
  static BenchDaemon start(Path launcher, Path home, long cacheBytes, java.util.Map<String, String> env, String... extra)
      throws IOException {
    Files.createDirectories(home);
    Path log = home.resolve("daemon.log");
    List<String> cmd = new ArrayList<>(List.of(launcher.toString(), "daemon", "--home", home.toString(),
        "--cache-size", (cacheBytes >> 20) + "M", "--metrics-address", "127.0.0.1:0",
        // A stop is not an unmount by default (restart.keepMounts); a benchmark's stop must be one.
        "--unmount-on-exit"));
    cmd.addAll(List.of(extra));
    long logged = Files.exists(log) ? Files.size(log) : 0; // a restart on the same home appends
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().remove("MODELCACHE_HOME");
    pb.environment().putAll(env);
    Process p = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      String all = Files.exists(log) ? Files.readString(log) : "";
      String text = all.length() >= logged ? all.substring((int) Math.min(logged, all.length())) : all;
      Matcher m = READY.matcher(text);
      if (m.find() && Files.exists(home.resolve("modelcache.sock"))) {
        return new BenchDaemon(launcher, home, p, Integer.parseInt(m.group(1)));
      }
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new IOException("daemon in " + home + " did not get ready within 60 s: " + tail(text));
      }
      BenchRegistry.sleep(50);
    }
  }

  private static String tail(String s) {
    return s.length() > 1500 ? s.substring(s.length() - 1500) : s;
  }

  long pid() {
    return process.pid();
  }

  /** Mounts {@code ref} at {@code dir} (created); returns the mount command's wall seconds, JVM start included. */
  double mount(String ref, Path dir) throws IOException {
    Files.createDirectories(dir);
    Procs.Result r = Procs.ok(120, List.of(launcher.toString(), "mount", "--home", home.toString(), ref, dir.toString()));
    mounts.add(dir);
    return r.seconds();
  }

  void umount(Path dir) throws IOException {
    mounts.remove(dir);
    Procs.Result r = Procs.run(60, List.of(launcher.toString(), "umount", "--home", home.toString(), dir.toString()));
    if (r.exit() != 0 && isMounted(dir)) {
      Procs.run(30, List.of("umount", "-l", dir.toString()));
    }
  }

  static boolean isMounted(Path dir) throws IOException {
    String want = dir.toAbsolutePath().toString();
    for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
      String[] f = line.split(" ");
      if (f.length > 1 && f[1].replace("\\040", " ").equals(want)) {
        return true;
      }
    }
    return false;
  }

  /** Peak resident set (VmHWM) of the daemon JVM so far, in bytes. */
  long peakRss() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid() + "/status"))) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("\\D", "")) << 10;
      }
    }
    throw new IOException("no VmHWM for pid " + pid());
  }

  /** The metrics endpoint's Prometheus text. */
  String metrics() throws IOException {
    try {
      return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + "/metrics"))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** Sum of every sample of {@code name} whose labels contain {@code labelPart} ("" for any). */
  static double sum(String metrics, String name, String labelPart) {
    Matcher m = Pattern.compile("^" + Pattern.quote(name) + "(\\{[^}]*\\})? (\\S+)$", Pattern.MULTILINE).matcher(metrics);
    double s = 0;
    while (m.find()) {
      if (labelPart.isEmpty() || (m.group(1) != null && m.group(1).contains(labelPart))) {
        s += Double.parseDouble(m.group(2));
      }
    }
    return s;
  }

  /** Heap in use now (sum of the heap pools' jvm_memory_used_bytes), from the metrics endpoint. */
  long heapUsed() throws IOException {
    {
      String body = metrics();
      Matcher m = HEAP.matcher(body);
      double sum = 0;
      boolean any = false;
      while (m.find()) {
        sum += Double.parseDouble(m.group(1));
        any = true;
      }
      if (!any) {
        throw new IOException("no heap jvm_memory_used_bytes in the daemon's metrics");
      }
      return (long) sum;
    }
  }

  /** Heap in use right after a full GC (jcmd GC.run): what the daemon really holds. */
  long liveHeap() throws IOException {
    Procs.run(30, List.of(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
        String.valueOf(pid()), "GC.run"));
    BenchRegistry.sleep(300);
    return heapUsed();
  }

  /** Samples heap use every 250 ms until {@link #stopSampling}; returns the peak seen. */
  void startSampling() {
    heapPeak.set(0);
    Thread t = new Thread(() -> {
      while (!Thread.currentThread().isInterrupted()) {
        try {
          heapPeak.accumulateAndGet(heapUsed(), Math::max);
          Thread.sleep(250);
        } catch (InterruptedException e) {
          return;
        } catch (IOException | RuntimeException e) {
          // The daemon is busy or stopping; the next sample will do.
        }
      }
    }, "heap-sampler");
    t.setDaemon(true);
    t.start();
    sampler = t;
  }

  long stopSampling() throws IOException {
    Thread t = sampler;
    if (t != null) {
      t.interrupt();
      try {
        t.join(5000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    sampler = null;
    return Math.max(heapPeak.get(), heapUsed());
  }

  String log() throws IOException {
    Path log = home.resolve("daemon.log");
    return Files.exists(log) ? Files.readString(log) : "";
  }

  /**
   * SIGKILL, the crash case: mounts whose connections are kept (restart.keepMounts) stay mounted, and
   * the home stays as it is for the next daemon. Returns once the process is gone.
   */
  void kill() throws IOException {
    mounts.clear(); // the next daemon on this home owns them now
    process.destroyForcibly();
    try {
      process.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** Mounts made by another daemon on this home that this one serves now (and unmounts at close). */
  void adopt(Path dir) {
    mounts.add(dir);
  }

  @Override
  public void close() {
    stop();
    // The disk cache is scratch: drop it (a benchmark makes several), keep the log.
    try (var s = Files.list(home)) {
      for (Path p : s.toList()) {
        if (!p.getFileName().toString().equals("daemon.log") && !process.isAlive()) {
          BenchUtil.deleteTree(p);
        }
      }
    } catch (IOException e) {
      System.err.println("warning: could not clean " + home + ": " + e.getMessage());
    }
  }

  /** Unmounts what it mounted and stops the daemon cleanly (SIGTERM), keeping its home: for a restart on it. */
  void stop() {
    Thread t = sampler;
    if (t != null) {
      t.interrupt();
    }
    for (Path m : List.copyOf(mounts)) {
      try {
        umount(m);
      } catch (IOException | RuntimeException e) {
        System.err.println("warning: could not unmount " + m + ": " + e.getMessage());
      }
    }
    process.destroy();
    try {
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
