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

  /** How long the daemon may take to answer; a command whose work scales with the cache says more. */
  java.time.Duration timeout() throws ModelCacheException {
    return ControlClient.DEFAULT_TIMEOUT;
  }

  /** The daemon's reply to {@code req}, without its {@code ok} field. */
  JsonNode call(ObjectNode req) throws ModelCacheException {
    JsonNode r = new ControlClient(home.resolve(), timeout()).call(req);
    ((ObjectNode) r).remove("ok");
    return r;
  }
}
