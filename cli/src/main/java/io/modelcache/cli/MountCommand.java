package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.control.ControlClient;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code modelcache mount REF DIR}: returns once DIR is mounted and listable. */
@Command(name = "mount", description = "Mount a model reference read-only at DIR, served lazily from the node cache.")
final class MountCommand implements Callable<Integer> {
  @Mixin HomeOption home;
  @Mixin RegistryFlags registry;

  @Parameters(index = "0", paramLabel = "REF", description = "host[:port]/repo[:tag][@digest] or oci:PATH[:TAG]")
  String ref;

  @Parameters(index = "1", paramLabel = "DIR", description = "An existing, empty directory.")
  Path dir;

  @Override
  public Integer call() throws Exception {
    ObjectNode req = ControlClient.request("mount").put("ref", ref).put("dir", dir.toAbsolutePath().toString());
    if (registry.plainHttpOverride() != null) {
      req.put("plainHttp", true);
    }
    JsonNode resp = new ControlClient(home.resolve()).call(req);
    System.out.println("mounted " + ref + " (" + resp.path("digest").asText() + ") at " + resp.path("mountpoint").asText());
    return 0;
  }
}
