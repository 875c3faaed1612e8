package io.modelcache.bench;

import java.util.List;
import java.util.function.Function;

/**
 * The rows of the end-to-end report: every figure with its baseline from the same run, the ratio and
 * the target where there is one. Reads the samples only; writes nothing but {@link Report}
 * rows. One use, one thread.
 */
final class E2eRows {
  private final Function<String, List<Double>> samples;

  E2eRows(Function<String, List<Double>> samples) {
    this.samples = samples;
  }

  private List<Double> s(String key) {
    return samples.apply(key);
  }

  private double med(String key) {
    return Report.median(s(key));
  }

  /** median(a) / median(b); null where b has no samples or is 0 (a hot read jnr serves from the page cache). */
  private Double ratio(String a, String b) {
    double d = med(b);
    return s(b).isEmpty() || !(d > 0) ? null : med(a) / d;
  }

  /** Adds every row to {@code rp}; {@code netTime}: shard bytes over the network limit, in seconds. */
  void addTo(Report rp, double netTime) {
    double net = med("net");
    double disk = med("disk");
    double hotNative = med("native.hot");
    boolean hasJnr = !s("jnr.cold.cpu.daemon").isEmpty();
    rp.add("limit", "network: curl GET of every shard blob, cold", s("net"), "GB/s", null, null, null, null);
    rp.add("limit", "network, one 4 MiB Range GET at a time (Java, keep-alive), cold", s("net.range"), "GB/s",
        "network", med("net.range") / net, null, null);
    rp.add("limit", "disk: dd bs=1M of the pulled copy, cold", s("disk"), "GB/s", null, null, null, null);
    rp.add("limit", "page cache: dd bs=1M of the pulled copy, hot", s("native.hot"), "GB/s", null, null, null, null);
    rp.add("status quo", "modelcache pull (JVM start included)", s("pull"), "s", null, null, null, null);
    rp.add("pull/push", "modelcache pull, model bytes over wall time (JVM start included)", s("pull.rate"), "GB/s",
        "network", med("pull.rate") / med("net"), "≥ 0.9×", med("pull.rate") / med("net") >= 0.9);
    rp.add("pull/push", "modelcache pull --page-cache bypass (O_DIRECT: auto's choice above half of MemAvailable)",
        s("pull.bypass.rate"), "GB/s", "network", med("pull.bypass.rate") / net, "≥ 0.9×",
        med("pull.bypass.rate") / net >= 0.9);
    rp.add("pull/push", "curl GET of every shard blob into files, then sync, cold", s("net.files"), "GB/s", "network",
        ratio("net.files", "net"), null, null);
    rp.add("pull/push", "modelcache pull against a download to disk (curl into files + sync)", s("pull.rate"), "GB/s",
        "curl into files", ratio("pull.rate", "net.files"), null, null);
    rp.add("pull/push", "curl upload of the shard blobs (POST + streamed PUT), cold", s("push.curl"), "GB/s", null, null,
        null, null);
    rp.add("pull/push", "modelcache push, shard bytes over wall time (JVM start included)", s("push"), "GB/s",
        "curl upload", med("push") / med("push.curl"), "≥ 0.8×", med("push") / med("push.curl") >= 0.8);
    rp.add("pull/push", "registry CPU per GiB: curl whole-blob GETs", s("net.cpu.registry"), "s/GiB", null, null, null,
        null);
    rp.add("pull/push", "registry CPU per GiB: modelcache pull", s("pull.cpu.registry"), "s/GiB", "curl GETs",
        med("pull.cpu.registry") / med("net.cpu.registry"), null, null);
    rp.add("pull/push", "registry CPU per GiB: curl into files + sync (a client filling the page cache)",
        s("net.files.cpu.registry"), "s/GiB", "curl GETs", ratio("net.files.cpu.registry", "net.cpu.registry"), null,
        null);
    rp.add("status quo", "then load_safetensors.py --all on the pulled files", s("pull.load"), "s", null, null, null, null);
    rp.add("status quo", "load_safetensors.py --all on the same files in the page cache (local load)", s("load.hot"), "s",
        null, null, null, null);
    rp.add("status quo", "download-then-load total", s("pull.total"), "s", "network time", med("pull.total") / netTime,
        null, null);
    List<Double> ideal = List.of(netTime + med("load.hot"));
    rp.add("status quo", "ideal download-then-load: network time + local load", ideal, "s", null, null, null, null);
    rp.add("cold", "mount command wall time (JVM start included, page cache dropped)", s("mount"), "s", null, null, "< 1 s", med("mount") < 1);
    rp.add("cold", "mount command, launcher files in the page cache (model cold)", s("mount.jvmwarm"), "s", null,
        null, "< 1 s", med("mount.jvmwarm") < 1);
    rp.add("cold: why", "modelcache ls (client JVM start + one control call), page cache dropped", s("ls"), "s",
        null, null, null, null);
    rp.add("cold", "open every shard + parse its header, after mount returns", s("headers"), "ms", null, null, "< 50 ms",
        med("headers") < 50);
    double hmax = s("headers").stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    rp.add("cold", "open every shard + parse its header, after mount returns: max over runs", List.of(hmax), "ms", null,
        null, "< 50 ms", hmax < 50);
    rp.add("cold", "registry CPU per GiB sent, cold sequential, against curl's whole-blob GETs",
        s("cold.cpu.registry"), "s/GiB", "curl GETs", med("cold.cpu.registry") / med("net.cpu.registry"), null, null);
    rp.add("cold", "first tensor: header + first 4 KiB of it", s("ttfb"), "ms", null, null, null, null);
    rp.add("cold", "first tensor: header + all of it", s("ttft"), "ms", null, null, null, null);
    rp.add("cold", "sequential dd bs=1M through the mount", s("cold"), "GB/s", "network", med("cold") / net, "≥ 0.9×",
        med("cold") / net >= 0.9);
    rp.add("cold", "loader pattern end to end, mount included", s("load.cold"), "s", "network time",
        med("load.cold") / netTime, "≤ 1.1×", med("load.cold") / netTime <= 1.1);
    rp.add("cold", "loader pattern vs download-then-load (modelcache pull, then load)", s("load.cold"), "s",
        "download-then-load", med("load.cold") / med("pull.total"), null, null);
    rp.add("cold", "loader pattern vs ideal download-then-load (network time + load from the page cache)",
        s("load.cold"), "s", "ideal", med("load.cold") / ideal.get(0), "< 1×", med("load.cold") / ideal.get(0) < 1);
    rp.add("cold", "registry egress, one mount read once", s("cold.egress"), "× model", null, null, "1.0×",
        med("cold.egress") <= 1.01);
    rp.add("cold: why", "daemon CPU (user+sys) per GiB read, cold sequential", s("cold.cpu.daemon"), "s/GiB", null, null,
        null, null);
    rp.add("cold: why", "registry CPU per GiB sent, cold sequential", s("cold.cpu.registry"), "s/GiB", null, null, null,
        null);
    rp.add("cold: why", "whole machine busy during the cold sequential read", s("cold.cpu.busy"), "CPUs of "
        + Runtime.getRuntime().availableProcessors(), null, null, null, null);
    parts(rp, "cold: why", "cold sequential", "cold");
    rp.add("cold: why", "daemon CPU per GiB, loader pattern", s("load.cpu.daemon"), "s/GiB", null, null, null, null);
    parts(rp, "cold: why", "loader pattern", "load");
    rp.add("cold: why", "passthrough opens during the loader pattern (shards the fill completed before the loader opened them)",
        s("load.passthrough"), "opens", null, null, null, null);
    rp.add("cold: why", "whole machine busy during the loader pattern", s("load.cpu.busy"), "CPUs of "
        + Runtime.getRuntime().availableProcessors(), null, null, null, null);
    rp.add("cold: why", "FUSE read requests: mean size", s("diag.fuse.size"), "KiB", null, null, null, null);
    rp.add("cold: why", "FUSE read requests: mean time in the daemon", s("diag.fuse.ms"), "ms", null, null, null, null);
    rp.add("cold: why", "registry fetches: mean size", s("diag.fetch.size"), "MiB", null, null, null, null);
    rp.add("cold: why", "registry fetches: mean duration", s("diag.fetch.ms"), "ms", null, null, null, null);
    rp.add("cold: why", "one fetch at a time: mean size / mean duration", s("diag.fetch.rate"), "GB/s", "network",
        med("diag.fetch.rate") / net, null, null);
    rp.add("warm", "sequential dd, remount, blobs in the disk cache", s("warm"), "GB/s", "disk", med("warm") / disk,
        "≥ 0.9×", med("warm") / disk >= 0.9);
    rp.add("warm", "registry egress on the warm read", s("warm.egress"), "bytes", null, null, "0", med("warm.egress") == 0);
    rp.add("warm: why", "FUSE read requests the daemon served", s("warm.fuse.reads"), "requests", null, null, null,
        null);
    rp.add("warm: why", "FUSE read requests: mean time in the daemon", s("warm.fuse.us"), "µs", null, null, null, null);
    rp.add("warm after restart", "first read after a clean restart (the daemon's, the mount's files read back in the background)",
        s("restart.warm"), "GB/s", "daemon path", ratio("restart.warm", "restart.daemonpath"), null, null);
    rp.add("warm after restart", "the same read with passthrough off (the daemon path alone, no read-back)",
        s("restart.daemonpath"), "GB/s", "disk", med("restart.daemonpath") / disk, null, null);
    rp.add("warm after restart", "daemon CPU per GiB on the first read", s("restart.warm.cpu.daemon"), "s/GiB",
        "daemon path", ratio("restart.warm.cpu.daemon", "restart.daemonpath.cpu.daemon"), null, null);
    rp.add("warm after restart", "passthrough opens on the first read", s("restart.warm.passthrough"), "opens", null,
        null, null, null);
    rp.add("warm after restart", "second read, page cache dropped (passthrough)", s("restart.warm2"), "GB/s", "warm",
        ratio("restart.warm2", "warm"), null, null);
    rp.add("hot", "sequential dd again (page cache)", s("hot"), "GB/s", "page cache", med("hot") / hotNative, "≥ 0.9×",
        med("hot") / hotNative >= 0.9);
    rp.add("hot: why", "FUSE read requests the daemon served, per pass", s("hot.fuse.reads"), "requests", null, null,
        null, null);
    rp.add("hot: why", "FUSE getattr requests, per pass", s("hot.fuse.getattr"), "requests", null, null, null, null);
    // Issue 10: what the daemon spends serving, by transport; jnr (libfuse2) is the baseline.
    rp.add("transport", "passthrough opens on the warm read (kernel transport)", s("warm.passthrough"), "opens", null,
        null, null, null);
    rp.add("transport", "page cache added by two mounts of the model, both read warm (kernel transport)",
        s("mounts2.pagecache"), "× model", hasJnr ? "jnr" : null, ratio("mounts2.pagecache", "jnr.mounts2.pagecache"),
        "≤ 1.1×", med("mounts2.pagecache") <= 1.1);
    rp.add("transport", "daemon CPU per GiB, warm read (kernel transport)", s("warm.cpu.daemon"), "s/GiB",
        hasJnr ? "jnr" : null, ratio("warm.cpu.daemon", "jnr.warm.cpu.daemon"), "≤ 0.05 s/GiB",
        med("warm.cpu.daemon") <= 0.05);
    rp.add("transport", "daemon CPU per GiB, hot read (kernel transport)", s("hot.cpu.daemon"), "s/GiB",
        hasJnr ? "jnr" : null, ratio("hot.cpu.daemon", "jnr.hot.cpu.daemon"), "≤ 0.05 s/GiB",
        med("hot.cpu.daemon") <= 0.05);
    if (hasJnr) {
      rp.add("transport", "daemon CPU per GiB, cold sequential: kernel against jnr", s("cold.cpu.daemon"), "s/GiB",
          "jnr", med("cold.cpu.daemon") / med("jnr.cold.cpu.daemon"), "≤ 0.5×",
          med("cold.cpu.daemon") / med("jnr.cold.cpu.daemon") <= 0.5);
      rp.add("transport", "jnr: page cache added by two mounts of the model, both read warm", s("jnr.mounts2.pagecache"),
          "× model", null, null, null, null);
      rp.add("transport", "jnr: daemon CPU per GiB, cold sequential", s("jnr.cold.cpu.daemon"), "s/GiB", null, null,
          null, null);
      parts(rp, "transport", "jnr, cold sequential", "jnr.cold");
      rp.add("transport", "jnr: daemon CPU per GiB, warm read", s("jnr.warm.cpu.daemon"), "s/GiB", null, null, null,
          null);
      rp.add("transport", "jnr: daemon CPU per GiB, hot read", s("jnr.hot.cpu.daemon"), "s/GiB", null, null, null,
          null);
      rp.add("transport", "jnr: sequential dd, cold", s("jnr.cold"), "GB/s", "kernel", med("jnr.cold") / med("cold"),
          null, null);
      rp.add("transport", "jnr: sequential dd, warm", s("jnr.warm"), "GB/s", "kernel", med("jnr.warm") / med("warm"),
          null, null);
      rp.add("transport", "jnr: sequential dd, hot", s("jnr.hot"), "GB/s", "kernel", med("jnr.hot") / med("hot"), null,
          null);
    }
    rp.add("concurrency", "4 readers on one mount, cold (bytes delivered)", s("conc4"), "GB/s", "network",
        med("conc4") / net, null, null);
    rp.add("concurrency", "4 readers: registry egress", s("conc4.egress"), "× model", null, null, "1.0×",
        med("conc4.egress") <= 1.01);
    rp.add("concurrency", "2 mounts of the model, cold (bytes delivered)", s("mounts2"), "GB/s", "network",
        med("mounts2") / net, null, null);
    rp.add("concurrency", "2 mounts: registry egress", s("mounts2.egress"), "× model", null, null, "1.0×",
        med("mounts2.egress") <= 1.01);
    rp.add("memory", "daemon start until ready (JVM, cache index)", s("daemon.start"), "s", null, null, null, null);
    rp.add("restart", "longest read a reader waits across kill -9 + restart (median of runs)", s("restart.stall"), "s",
        null, null, null, null);
    rp.add("restart", "longest read across kill -9 + restart, max of runs",
        List.of(s("restart.stall").stream().mapToDouble(Double::doubleValue).max().orElse(0)), "s", null, null, null, null);
    rp.add("restart", "restarted daemon start until ready (takes the kept mount over)", s("restart.start"), "s",
        "fresh start", med("restart.start") / med("daemon.start"), null, null);
    rp.add("memory", "daemon peak RSS (VmHWM) after a cold full read", s("rss"), "MiB", null, null, null, null);
    rp.add("memory", "daemon heap used, peak sampled every 250 ms", s("heap.peak"), "MiB", null, null, null, null);
    rp.add("memory", "daemon heap live after a full GC", s("heap.live"), "MiB", null, null, "≤ 256 MiB at 16 GiB",
        null);
    if (!s("tx.kernel.cpu").isEmpty()) {
      TransportBench.addRows(rp, this::s);
    }
  }

  /** The daemon's CPU per GiB of step {@code key} split by its threads' jobs ({@link CpuUse#PARTS}). */
  private void parts(Report rp, String section, String stepName, String key) {
    for (CpuUse.Part p : CpuUse.PARTS) {
      rp.add(section, "daemon CPU per GiB, " + stepName + ": " + p.what(), s(key + ".cpu.daemon." + p.key()), "s/GiB",
          null, null, null, null);
    }
  }
}
