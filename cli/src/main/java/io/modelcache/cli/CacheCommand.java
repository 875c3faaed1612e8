package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.config.Sizes;
import io.modelcache.control.ControlClient;
import io.modelcache.error.ModelCacheException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code modelcache cache ls|verify|evict|gc}: the node cache's blobs, as the daemon sees them. */
@Command(name = "cache", description = "Inspect and manage the node cache.", mixinStandardHelpOptions = true,
    subcommands = {CacheCommand.Ls.class, CacheCommand.Verify.class, CacheCommand.Evict.class, CacheCommand.Gc.class})
final class CacheCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (ls, verify, evict or gc)");
  }

  /** Options every subcommand shares; the reply is printed as is with {@code --json}. */
  abstract static class Base extends ControlCommand {
    @Override
    JsonNode call(ObjectNode req) throws ModelCacheException {
      JsonNode r = super.call(req);
      if (json) {
        System.out.println(r.toPrettyString());
      }
      return r;
    }
  }


  /** A blob as tables show it: short digest, plus the content offset for a member of a tar layer. */
  static String blobName(JsonNode b) {
    String key = b.path("key").asText();
    String name = StatusCommand.shortDigest(b.path("digest").asText());
    int dash = key.indexOf('-');
    return dash < 0 ? name : name + "+" + key.substring(dash + 1);
  }

  @Command(name = "ls", description = "List cached blobs (digest, size, cached bytes, state) and the mounted models that use them.")
  static final class Ls extends Base implements Callable<Integer> {
    @Override
    public Integer call() throws Exception {
      JsonNode r = call(ControlClient.request("cache-ls"));
      if (json) {
        return 0;
      }
      System.out.printf(Locale.ROOT, "%-28s %10s %10s  %-8s  %s%n", "BLOB", "SIZE", "CACHED", "STATE", "MODELS");
      for (JsonNode b : r.path("blobs")) {
        List<String> models = new ArrayList<>();
        b.path("models").forEach(m -> models.add(m.asText()));
        System.out.printf(Locale.ROOT, "%-28s %10s %10s  %-8s  %s%n", blobName(b),
            Sizes.format(b.path("sizeBytes").asLong()), Sizes.format(b.path("cachedBytes").asLong()),
            b.path("state").asText(), models.isEmpty() ? "-" : String.join(", ", models));
      }
      System.out.printf(Locale.ROOT, "%d blobs, %s of %s used%n", r.path("blobs").size(),
          Sizes.format(r.path("usedBytes").asLong()), Sizes.format(r.path("budgetBytes").asLong()));
      return 0;
    }
  }

  @Command(name = "verify", description = {"Re-verify cached blobs (all, or one model's) against their digests and chunk checksums.",
      "Exits nonzero if any blob failed."})
  static final class Verify extends Base implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "REF", arity = "0..1", description = "Only this model's blobs.")
    String ref;

    // Verification reads every cached byte back: a TB-sized cache takes longer than the 5 minutes
    // after which other commands call a daemon hung.
    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "6h",
        description = "How long to wait for the daemon to finish (default: ${DEFAULT-VALUE}).")
    String timeout;

    @Override
    java.time.Duration timeout() throws ModelCacheException {
      return io.modelcache.config.Durations.parsePositive("--timeout", timeout);
    }

    @Override
    public Integer call() throws Exception {
      ObjectNode req = ControlClient.request("cache-verify");
      if (ref != null) {
        req.put("ref", ref);
      }
      JsonNode r = call(req);
      int failed = r.path("failed").asInt();
      if (!json) {
        for (JsonNode b : r.path("blobs")) {
          System.out.printf(Locale.ROOT, "%-6s %-28s %-10s %s%n", b.path("ok").asBoolean() ? "ok" : "FAILED",
              blobName(b), b.path("status").asText(), b.path("detail").asText());
        }
        System.out.printf(Locale.ROOT, "%d blobs checked, %d failed%n", r.path("verified").asInt(), failed);
      }
      if (failed > 0) {
        throw new ModelCacheException(ModelCacheException.Kind.DIGEST_MISMATCH,
            failed + " of " + r.path("verified").asInt() + " cached blobs failed verification");
      }
      return 0;
    }
  }

  @Command(name = "evict", description = {"Drop a model's blobs from the cache (refused while the model is mounted).",
      "REF may also be a blob digest as 'cache ls' shows it."})
  static final class Evict extends Base implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "REF", description = "The model whose blobs to drop: a reference (host[:port]/repo[:tag][@sha256:...] or oci:PATH[:TAG]).")
    String ref;

    @Override
    public Integer call() throws Exception {
      JsonNode r = call(ControlClient.request("cache-evict").put("ref", ref));
      if (json) {
        return 0;
      }
      for (JsonNode b : r.path("evicted")) {
        System.out.printf(Locale.ROOT, "evicted %s (%s)%n", blobName(b), Sizes.format(b.path("cachedBytes").asLong()));
      }
      for (JsonNode b : r.path("kept")) {
        System.out.printf(Locale.ROOT, "kept    %s: %s%n", blobName(b), b.path("reason").asText());
      }
      System.out.printf(Locale.ROOT, "evicted %d blobs of %s, freed %s%n", r.path("evicted").size(), ref,
          Sizes.format(r.path("freedBytes").asLong()));
      return 0;
    }
  }

  @Command(name = "gc", description = "Drop every cached blob that no mounted model uses.")
  static final class Gc extends Base implements Callable<Integer> {
    @Override
    public Integer call() throws Exception {
      JsonNode r = call(ControlClient.request("cache-gc"));
      if (json) {
        return 0;
      }
      for (JsonNode b : r.path("evicted")) {
        System.out.printf(Locale.ROOT, "evicted %s (%s)%n", blobName(b), Sizes.format(b.path("cachedBytes").asLong()));
      }
      System.out.printf(Locale.ROOT, "evicted %d unused blobs, freed %s; %d blobs in use kept%n",
          r.path("evicted").size(), Sizes.format(r.path("freedBytes").asLong()), r.path("kept").asInt());
      return 0;
    }
  }
}
