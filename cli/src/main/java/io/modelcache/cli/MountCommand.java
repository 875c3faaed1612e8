package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.config.Durations;
import io.modelcache.config.Sizes;
import io.modelcache.control.ControlClient;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code modelcache mount REF DIR}: returns once DIR is mounted and listable (or, with --wait-full, fully cached). */
@Command(name = "mount", description = "Mount a model reference read-only at DIR, served lazily from the node cache.")
final class MountCommand implements Callable<Integer> {
  @Mixin HomeOption home;
  @Option(names = "--plain-http", description = "Use plain HTTP for a non-loopback registry (loopback registries always use it).")
  boolean plainHttp;

  @Parameters(index = "0", paramLabel = "REF", description = "host[:port]/repo[:tag][@digest] or oci:PATH[:TAG]")
  String ref;

  @Parameters(index = "1", paramLabel = "DIR", description = "An existing, empty directory.")
  Path dir;

  @Option(names = "--wait-full",
      description = "After mounting, fetch the whole model into the cache and return once it is 100%% cached and verified.")
  boolean waitFull;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "6h",
      description = "With --wait-full: how long to wait (default: ${DEFAULT-VALUE}); the mount stays either way.")
  String timeout;

  @Override
  public Integer call() throws Exception {
    var limit = waitFull ? Durations.parse("timeout", timeout) : null;
    ObjectNode req = ControlClient.request("mount").put("ref", ref).put("dir", dir.toAbsolutePath().toString());
    if (plainHttp) { // the daemon reaches the registry with its own config
      req.put("plainHttp", true);
    }
    ControlClient client = new ControlClient(home.resolve());
    JsonNode resp = client.call(req);
    String mp = resp.path("mountpoint").asText();
    System.out.println("mounted " + ref + " (" + resp.path("digest").asText() + ") at " + mp);
    if (waitFull) {
      System.out.flush();
      JsonNode started = client.call(ControlClient.request("warm").put("dir", mp));
      JsonNode done = WarmWait.await(client, started, Progress.forStdout("mount " + ref), limit);
      System.out.println(String.format(Locale.ROOT, "%s at %s is 100%% cached: %d files, %s, verified, in %.1f s",
          ref, mp, done.path("files").asInt(), Sizes.format(done.path("totalBytes").asLong()),
          done.path("elapsedSeconds").asDouble()));
    }
    return 0;
  }
}
