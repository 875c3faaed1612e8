package io.modelcache.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordingFile;

/**
 * Where a process's CPU went, from a JFR recording with {@code jdk.CPUTimeSample} (JDK 25's CPU-time
 * sampler: one sample per {@code samplingPeriod} of a Java thread's CPU clock, user and kernel time
 * alike, so a thread inside {@code pwrite} or a socket read is seen where it spends the CPU, and a
 * thread blocked in {@code epoll_wait} is not seen at all). Each sample goes to the category of the
 * topmost frame that matches a rule ({@link #classify}), so a copy made for the digest counts as
 * hashing and a Netty buffer copy as receiving. What the samples do not cover (JIT compiler and GC
 * threads) is the process's measured CPU minus the sampled CPU (lost samples, which the sampler
 * counts, scale the sampled categories up), reported as "JVM (JIT, GC, unsampled)". Allocation comes from {@code jdk.ObjectAllocationSample} weights. Pure
 * apart from reading the file.
 */
final class JfrBreakdown {
  /** The categories of the table, in print order. */
  static final List<String> CATEGORIES = List.of("receive (socket, Netty, HTTP)", "hash (sha256)", "CRC32C",
      "write (cache or target file, fsync)", "read back (cache file → reply)", "FUSE (requests, replies)",
      "locks and wake-ups", "cache bookkeeping (index, bitmaps, memory tier)", "other Java", "JVM (JIT, GC, unsampled)");

  /** Topmost matching frame wins; rules are checked per frame in this order. */
  private static final List<Map.Entry<String, String[]>> RULES = List.of(
      Map.entry("hash (sha256)", new String[] {"sun.security.provider.SHA", "sun.security.provider.DigestBase",
          "java.security.MessageDigest"}),
      Map.entry("CRC32C", new String[] {"java.util.zip.CRC32", "java.util.zip.Checksum"}),
      Map.entry("locks and wake-ups", new String[] {"jdk.internal.misc.Unsafe.park", "jdk.internal.misc.Unsafe.unpark",
          "java.util.concurrent.locks.", "java.lang.Object.wait", "java.lang.Object.notify", "java.lang.Thread.sleep",
          "java.lang.Thread.yield", "java.lang.Thread.onSpinWait", "java.util.concurrent.SynchronousQueue",
          "java.util.concurrent.LinkedBlockingQueue", "java.util.concurrent.ArrayBlockingQueue",
          "java.util.concurrent.CompletableFuture", "java.util.concurrent.Semaphore",
          "java.util.concurrent.CountDownLatch"}),
      Map.entry("write (cache or target file, fsync)", new String[] {"sun.nio.ch.FileChannelImpl.write",
          "sun.nio.ch.FileChannelImpl.force", "sun.nio.ch.FileDispatcherImpl.pwrite", "sun.nio.ch.FileDispatcherImpl.write",
          "sun.nio.ch.FileDispatcherImpl.force", "java.io.FileOutputStream", "sun.nio.ch.FileChannelImpl.transfer",
          "io.modelcache.cache.HolePuncher"}),
      Map.entry("read back (cache file → reply)", new String[] {"sun.nio.ch.FileChannelImpl.read",
          "sun.nio.ch.FileDispatcherImpl.pread", "sun.nio.ch.FileDispatcherImpl.read"}),
      Map.entry("receive (socket, Netty, HTTP)", new String[] {"io.netty.", "sun.nio.ch.SocketChannelImpl",
          "sun.nio.ch.SocketDispatcher", "sun.nio.ch.NioSocketImpl", "java.net.Socket", "io.modelcache.registry.", "io.modelcache.source."}),
      Map.entry("FUSE (requests, replies)", new String[] {"io.modelcache.fuse.", "io.modelcache.mount.", "jnr.", "ru.serce.jnrfuse."}),
      Map.entry("cache bookkeeping (index, bitmaps, memory tier)", new String[] {"net.openhft.", "io.modelcache.cache.", "io.modelcache.fetch.",
          "io.modelcache.chunkindex."}));

  /** One recording's figures: category → CPU seconds, and allocated bytes by top frame. */
  record Result(Map<String, Double> cpuSeconds, double sampledSeconds, long samples, long lost,
      Map<String, Long> allocBytes, long allocTotal, double jitSeconds, double gcCpuSeconds) {}

  private JfrBreakdown() {}

  /** Re-reads a recording bench/profile kept: {@code FILE.jfr PROCESS_CPU_SECONDS BYTES [from-start]}. */
  public static void main(String[] a) throws IOException {
    double cpu = Double.parseDouble(a[1]);
    long bytes = Long.parseLong(a[2]);
    System.out.print(table(a[0], read(Path.of(a[0]), cpu, a.length > 3), cpu, bytes));
  }

  /** The category of one stack, frames top first as "class.method". */
  static String classify(List<String> frames) {
    for (String f : frames) {
      for (Map.Entry<String, String[]> r : RULES) {
        for (String prefix : r.getValue()) {
          if (f.startsWith(prefix)) {
            return r.getKey();
          }
        }
      }
    }
    return "other Java";
  }

  /**
   * Reads {@code jfr}; {@code processCpu} is the process's user + system CPU seconds over the same
   * interval (from /proc), of which whatever the samples do not cover is the JVM's own share;
   * {@code fromStart}: the recording began with the JVM (JIT time counts from 0).
   */
  static Result read(Path jfr, double processCpu, boolean fromStart) throws IOException {
    Map<String, Double> cpu = new LinkedHashMap<>();
    CATEGORIES.forEach(c -> cpu.put(c, 0.0));
    Map<String, Long> alloc = new LinkedHashMap<>();
    double sampled = 0;
    long samples = 0;
    long lost = 0;
    long allocTotal = 0;
    double jitMin = Double.MAX_VALUE;
    double jitMax = 0;
    double gc = 0;
    for (RecordedEvent e : RecordingFile.readAllEvents(jfr)) {
      switch (e.getEventType().getName()) {
        case "jdk.CPUTimeSample" -> {
          double period = e.getDuration("samplingPeriod").toNanos() / 1e9;
          String c = e.getBoolean("failed") ? "JVM (JIT, GC, unsampled)" : classify(frames(e.getStackTrace()));
          cpu.merge(c, period, Double::sum);
          sampled += period;
          samples++;
        }
        case "jdk.CPUTimeSamplesLost" -> lost += e.getInt("lostSamples");
        case "jdk.ObjectAllocationSample" -> {
          long w = e.getLong("weight");
          allocTotal += w;
          List<String> fr = frames(e.getStackTrace());
          alloc.merge(allocSite(fr), w, Long::sum);
        }
        case "jdk.CompilerStatistics" -> {
          double t = e.getDuration("totalTimeSpent").toNanos() / 1e9;
          jitMin = Math.min(jitMin, t);
          jitMax = Math.max(jitMax, t);
        }
        case "jdk.GCCPUTime" -> gc += (e.getLong("userTime") + e.getLong("systemTime")) / 1e9;
        default -> { }
      }
    }
    // Samples the sampler had to drop (its queue full, under load) were Java-thread CPU like the
    // rest: scale the recorded categories up by them, so only what no Java thread ran stays JVM.
    if (samples > 0 && lost > 0) {
      double scale = (samples + lost) / (double) samples;
      cpu.replaceAll((k, v) -> v * scale);
      sampled *= scale;
    }
    double unsampled = Math.max(0, processCpu - sampled);
    cpu.merge("JVM (JIT, GC, unsampled)", unsampled, Double::sum);
    double jit = jitMax == 0 ? 0 : jitMax - (fromStart ? 0 : jitMin);
    return new Result(cpu, sampled, samples, lost, alloc, allocTotal, jit, gc);
  }

  /** The first frame of ours (io.modelcache) or, failing that, the top frame. */
  private static String allocSite(List<String> frames) {
    for (String f : frames) {
      if (f.startsWith("io.modelcache.")) {
        return f;
      }
    }
    return frames.isEmpty() ? "(no stack)" : frames.get(0);
  }

  private static List<String> frames(RecordedStackTrace st) {
    List<String> out = new ArrayList<>();
    if (st == null) {
      return out;
    }
    for (RecordedFrame f : st.getFrames()) {
      if (f.getMethod() != null && f.getMethod().getType() != null) {
        out.add(f.getMethod().getType().getName() + "." + f.getMethod().getName());
      }
    }
    return out;
  }

  /** A markdown table: category, CPU-s, CPU-s/GiB, share; then the top allocation sites per GiB. */
  static String table(String title, Result r, double processCpu, long bytes) {
    double gib = bytes / (double) (1L << 30);
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "%n%s: %.2f CPU-s for %.2f GiB = %.2f CPU-s/GiB (%d samples, %d lost)%n%n",
        title, processCpu, gib, processCpu / gib, r.samples(), r.lost()));
    b.append("| where | CPU-s | CPU-s/GiB | share |\n|---|---:|---:|---:|\n");
    double total = Math.max(processCpu, r.sampledSeconds());
    for (Map.Entry<String, Double> e : r.cpuSeconds().entrySet()) {
      b.append(String.format(Locale.ROOT, "| %s | %.2f | %.2f | %.0f%% |%n", e.getKey(), e.getValue(),
          e.getValue() / gib, total > 0 ? 100 * e.getValue() / total : 0));
    }
    b.append(String.format(Locale.ROOT, "%nof the JVM's share: JIT compilations %.2f s (wall time of the compiler "
        + "threads, jdk.CompilerStatistics), GC %.2f CPU-s (jdk.GCCPUTime)%n", r.jitSeconds(), r.gcCpuSeconds()));
    b.append(String.format(Locale.ROOT, "%nallocated (sampled weight): %.0f MiB per GiB; top sites:%n",
        r.allocTotal() / gib / (1 << 20)));
    r.allocBytes().entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(6)
        .forEach(e -> b.append(String.format(Locale.ROOT, "- %s: %.0f MiB/GiB%n", e.getKey(),
            e.getValue() / gib / (1 << 20))));
    return b.toString();
  }
}
