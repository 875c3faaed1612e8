package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelcache.control.ControlClient;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code modelcache ls}: the mounts, with reference, digest, mountpoint and percentage cached. */
@Command(name = "ls", description = "List mounts: reference, resolved digest, mountpoint, percentage of bytes cached.")
final class LsCommand implements Callable<Integer> {
  @Mixin HomeOption home;

  @Option(names = "--json", description = "Print JSON.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    JsonNode resp = ControlClient.quick(home.resolve()).call(ControlClient.request("ls"));
    if (json) {
      System.out.println(resp.toPrettyString());
      return 0;
    }
    System.out.printf(Locale.ROOT, "%-40s %-19s %7s  %s%n", "REFERENCE", "DIGEST", "CACHED", "MOUNTPOINT");
    for (JsonNode m : resp.path("mounts")) {
      long total = m.path("totalBytes").asLong();
      double pct = total == 0 ? 100.0 : 100.0 * m.path("cachedBytes").asLong() / total;
      String digest = m.path("digest").asText();
      System.out.printf(Locale.ROOT, "%-40s %-19s %6.1f%%  %s%n", m.path("reference").asText(),
          digest.length() > 19 ? digest.substring(0, 19) : digest, pct, m.path("mountpoint").asText());
    }
    return 0;
  }
}
