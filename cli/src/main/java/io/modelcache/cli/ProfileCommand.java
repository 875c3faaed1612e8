package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.config.Sizes;
import io.modelcache.control.ControlClient;
import io.modelcache.error.ModelCacheException;
import io.modelcache.fetch.AccessProfile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code modelcache profile export|import|ls}: move learned access profiles between nodes. A profile
 * is the order in which a model's chunks were first read; the next mount of the same manifest digest
 * prefetches in that order.
 */
@Command(name = "profile", description = "Export, import and list learned access profiles (read order per model digest).",
    mixinStandardHelpOptions = true,
    subcommands = {ProfileCommand.Export.class, ProfileCommand.Import.class, ProfileCommand.Ls.class})
final class ProfileCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (export, import or ls)");
  }

  /** Options every subcommand shares. */
  abstract static class Base extends ControlCommand {}


  @Command(name = "export", description = {
      "Write the learned access profile of a model to FILE, to import on another node.",
      "TARGET is a model reference, a mountpoint or a manifest digest; a live mount gives what it learned so far."})
  static final class Export extends Base implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "TARGET",
        description = "A mountpoint (a live mount gives what it learned so far), a model reference or a sha256:... manifest digest.")
    String target;

    @Parameters(index = "1", paramLabel = "FILE", description = "The profile file to write.")
    Path file;

    @Override
    public Integer call() throws Exception {
      ObjectNode req = ControlClient.request("profile-export").put("target", target);
      String dir = existingDir(target);
      if (dir != null) {
        req.put("dir", dir);
      }
      JsonNode r = call(req);
      AccessProfile p = AccessProfile.parse("profile from the daemon", r.path("profile").asText(""));
      if (Files.isDirectory(file)) {
        throw new ModelCacheException(ModelCacheException.Kind.USAGE, file + ": is a directory");
      }
      try {
        p.write(file);
      } catch (IOException e) {
        throw new ModelCacheException(ModelCacheException.Kind.IO, "cannot write " + file + ": " + e.getMessage());
      }
      if (json) {
        ((ObjectNode) r).remove("profile");
        System.out.println(((ObjectNode) r).put("file", file.toString()).toPrettyString());
        return 0;
      }
      String from = r.path("source").asText().equals("mount")
          ? "learned so far by the mount at " + r.path("mountpoint").asText() : "saved";
      System.out.printf(Locale.ROOT, "exported the profile of %s (%d chunks of %s, %s) to %s%n", p.manifest(),
          p.entries().size(), Sizes.format(p.chunkSize()), from, file);
      return 0;
    }
  }

  /** The target as an absolute path when it names an existing directory (a mountpoint), else null. */
  static String existingDir(String target) {
    try {
      Path p = Path.of(target);
      return Files.isDirectory(p) ? p.toAbsolutePath().normalize().toString() : null;
    } catch (InvalidPathException e) {
      return null;
    }
  }

  @Command(name = "import", description = {
      "Check FILE and install it as the access profile of its manifest digest.",
      "The next mount of that digest prefetches in the profile's order."})
  static final class Import extends Base implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "A profile file written by 'profile export'.")
    Path file;

    @Override
    public Integer call() throws Exception {
      AccessProfile p = AccessProfile.read(file); // one-line errors name the file and what is wrong
      JsonNode r = call(ControlClient.request("profile-import").put("name", file.toString()).put("profile", p.toText()));
      if (json) {
        System.out.println(r.toPrettyString());
        return 0;
      }
      System.out.printf(Locale.ROOT, "%s the profile of %s (%d chunks of %s)%n",
          r.path("replaced").asBoolean() ? "replaced" : "installed", p.manifest(), p.entries().size(),
          Sizes.format(p.chunkSize()));
      List<String> at = new ArrayList<>();
      r.path("mountedAt").forEach(m -> at.add(m.asText()));
      if (!at.isEmpty()) {
        System.out.println("it applies from the next mount; mounted now at " + String.join(", ", at));
      }
      return 0;
    }
  }

  @Command(name = "ls", description = "List saved access profiles: manifest digest, entries, bytes they cover, file size.")
  static final class Ls extends Base implements Callable<Integer> {
    @Override
    public Integer call() throws Exception {
      JsonNode r = call(ControlClient.request("profile-ls"));
      if (json) {
        System.out.println(r.toPrettyString());
        return 0;
      }
      System.out.printf(Locale.ROOT, "%-71s %8s %10s %10s  %s%n", "DIGEST", "ENTRIES", "COVERS", "SIZE", "MOUNTED AT");
      for (JsonNode p : r.path("profiles")) {
        if (p.has("error")) {
          System.out.printf(Locale.ROOT, "%-71s %8s %10s %10s  %s%n", Path.of(p.path("file").asText()).getFileName(),
              "-", "-", Sizes.format(p.path("sizeBytes").asLong()), "unreadable: " + p.path("error").asText());
          continue;
        }
        List<String> at = new ArrayList<>();
        p.path("mountedAt").forEach(m -> at.add(m.asText()));
        System.out.printf(Locale.ROOT, "%-71s %8d %10s %10s  %s%n", p.path("digest").asText(),
            p.path("entries").asLong(), Sizes.format(p.path("coveredBytes").asLong()),
            Sizes.format(p.path("sizeBytes").asLong()), at.isEmpty() ? "-" : String.join(", ", at));
      }
      System.out.printf(Locale.ROOT, "%d profiles in %s%n", r.path("profiles").size(), r.path("dir").asText());
      return 0;
    }
  }
}
