package io.modelcache.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Every command that talks to a registry reads the daemon's config file (--config), the same way. */
class RegistryFlagsTest {
  /** The commands that open registry connections themselves; a new one (index, ...) belongs here. */
  private static final List<String> REGISTRY_COMMANDS = List.of("push", "index", "pull", "sign", "inspect", "login");

  private static List<String> commandsWithRegistryFlags() {
    List<String> names = new ArrayList<>();
    for (Class<?> c : Main.COMMANDS) {
      for (Field f : c.getDeclaredFields()) {
        if (f.getType() == RegistryFlags.class && f.isAnnotationPresent(CommandLine.Mixin.class)) {
          names.add(c.getAnnotation(CommandLine.Command.class).name());
        }
      }
    }
    return names;
  }

  @Test
  void everyRegistryCommandHasTheSharedConfigOption() {
    assertEquals(REGISTRY_COMMANDS, commandsWithRegistryFlags());
    CommandLine root = new CommandLine(new Main());
    Main.COMMANDS.forEach(root::addSubcommand);
    for (String name : REGISTRY_COMMANDS) {
      CommandLine.Model.OptionSpec o = root.getSubcommands().get(name).getCommandSpec().findOption("--config");
      assertTrue(o != null, name + " has no --config");
      assertTrue(String.join(" ", o.description()).contains("/etc/modelcache/config.yaml"), name);
    }
  }

  @Test
  void aMissingConfigFileStopsEachOfThemWithOneLine(@TempDir Path tmp) throws Exception {
    Path missing = tmp.resolve("nope.yaml");
    Path model = Files.createDirectories(tmp.resolve("model"));
    String[][] runs = {
        {"inspect", "--config", missing.toString(), "127.0.0.1:1/m:v"},
        {"pull", "--config", missing.toString(), "127.0.0.1:1/m:v", tmp.resolve("out").toString()},
        {"push", "--config", missing.toString(), model.toString(), "127.0.0.1:1/m:v"},
        {"index", "--config", missing.toString(), "127.0.0.1:1/m:v"},
        {"sign", "--config", missing.toString(), "127.0.0.1:1/m:v", "--key", tmp.resolve("cosign.key").toString()},
        {"login", "--config", missing.toString(), "127.0.0.1:1", "-u", "alice", "--password-stdin"}};
    for (String[] args : runs) {
      StringWriter err = new StringWriter();
      int code = Main.run(args, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
      assertEquals("modelcache: config file " + missing + " does not exist\n", err.toString(), args[0]);
      assertEquals(2, code, args[0]);
    }
  }

  @Test
  void aBadKeyInTheConfigIsReportedByTheClientToo(@TempDir Path tmp) throws Exception {
    Path cfg = tmp.resolve("config.yaml");
    Files.writeString(cfg, "registries:\n  - host: r.example.com\n    proxy: ftp://p:21\n");
    StringWriter err = new StringWriter();
    int code = Main.run(new String[] {"inspect", "--config", cfg.toString(), "r.example.com/m:v"},
        new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
    assertEquals("modelcache: " + cfg + " line 3: registries.0.proxy: 'ftp://p:21': only http:// proxies are supported\n",
        err.toString());
    assertEquals(2, code);
  }
}
