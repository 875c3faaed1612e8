package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.config.Sizes;
import io.modelcache.control.ControlClient;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code modelcache status}: the daemon's health, the cache against its budget, and every mount. */
@Command(name = "status", description = "Show the daemon's health, cache use and counters, and each mount's progress and errors.")
final class StatusCommand implements Callable<Integer> {
  @Mixin HomeOption home;

  @Option(names = "--json", description = "Print JSON.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    JsonNode s = ControlClient.quick(home.resolve()).call(ControlClient.request("status"));
    ((ObjectNode) s).remove("ok");
    if (json) {
      System.out.println(s.toPrettyString());
      return 0;
    }
    System.out.print(render(s));
    return 0;
  }

  static String render(JsonNode s) {
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "daemon:   pid %d, up %s, version %s%n", s.path("pid").asLong(),
        Progress.duration(s.path("uptimeSeconds").asLong()), s.path("version").asText()));
    b.append("home:     ").append(s.path("home").asText()).append('\n');
    b.append("metrics:  ").append(s.path("metricsAddress").asText()).append('\n');
    JsonNode c = s.path("cache");
    b.append(String.format(Locale.ROOT, "cache:    %s of %s used (%.1f%%), %d blobs%n",
        Sizes.format(c.path("usedBytes").asLong()), Sizes.format(c.path("budgetBytes").asLong()),
        c.path("usedPercent").asDouble(), c.path("blobs").asLong()));
    b.append(String.format(Locale.ROOT,
        "          %d hits, %d misses, %s fetched, %d evictions, %d verify failures%n",
        c.path("hits").asLong(), c.path("misses").asLong(), Sizes.format(c.path("bytesFetched").asLong()),
        c.path("evictions").asLong(), c.path("verifyFailures").asLong()));
    if (c.path("corruptChunks").asLong() > 0) {
      b.append(String.format(Locale.ROOT, "          %d cached chunk(s) found damaged on disk and dropped (fetched again when read)%n",
          c.path("corruptChunks").asLong()));
    }
    JsonNode mounts = s.path("mounts");
    b.append("mounts:   ").append(mounts.size()).append('\n');
    if (!mounts.isEmpty()) {
      b.append(String.format(Locale.ROOT, "  %-40s %-19s %7s %12s %6s  %s%n",
          "REFERENCE", "DIGEST", "CACHED", "RATE", "ERRORS", "MOUNTPOINT"));
      for (JsonNode m : mounts) {
        b.append(String.format(Locale.ROOT, "  %-40s %-19s %6.1f%% %12s %6d  %s%n", m.path("reference").asText(),
            shortDigest(m.path("digest").asText()), m.path("cachedPercent").asDouble(),
            Sizes.format(m.path("fetchRateBytesPerSec").asLong()) + "/s", m.path("readErrors").asLong(),
            m.path("mountpoint").asText()));
        if (m.hasNonNull("transport")) {
          b.append("    transport: ").append(m.path("transport").asText()).append('\n');
        }
        if (m.hasNonNull("signature")) {
          b.append("    signature: ").append(m.path("signature").asText()).append('\n');
        }
        if (m.hasNonNull("verification")) {
          b.append("    verification: ").append(m.path("verification").asText()).append('\n');
        }
        if (m.hasNonNull("profile")) {
          b.append("    profile: ").append(m.path("profile").asText()).append(", fill: ")
              .append(m.path("fill").asText()).append('\n');
        }
        b.append("    restart: ").append(m.path("survivesRestart").asBoolean()
            ? "stays mounted (connection kept by the " + s.path("restartKeeper").asText() + ")"
            : "unmounted when the daemon stops").append('\n');
        if (m.hasNonNull("lastError")) {
          b.append("    last error: ").append(m.path("lastError").asText()).append('\n');
        }
      }
    }
    for (JsonNode w : s.path("warming")) {
      b.append("warming:  ").append(w.path("reference").asText()).append(": ")
          .append(Progress.stats(w.path("cachedBytes").asLong(), w.path("totalBytes").asLong(),
              w.path("rateBytesPerSec").asDouble()))
          .append('\n');
    }
    return b.toString();
  }

  /** {@code sha256:} and the first 12 hex digits: enough to tell digests apart in a table. */
  static String shortDigest(String d) {
    return d.length() > 19 ? d.substring(0, 19) : d;
  }
}
