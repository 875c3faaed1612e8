package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.control.ControlClient;
import io.modelcache.error.ModelCacheException;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** What operator subcommands share: the daemon's home, {@code --json}, and one control call. */
abstract class ControlCommand {
  @Mixin HomeOption home;

  @Option(names = "--json", description = "Print JSON.")
  boolean json;

  /** The daemon's reply to {@code req}, without its {@code ok} field. */
  JsonNode call(ObjectNode req) throws ModelCacheException {
    JsonNode r = new ControlClient(home.resolve()).call(req);
    ((ObjectNode) r).remove("ok");
    return r;
  }
}
