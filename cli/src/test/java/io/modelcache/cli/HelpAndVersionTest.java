package io.modelcache.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Every command and subcommand, found by walking the command tree (so a command added later is
 * covered without editing this test), answers {@code -h} and {@code --help} with its usage and exit 0,
 * and documents every option and parameter; {@code --version} names the version, commit and JDK.
 */
class HelpAndVersionTest {
  /** Each command's path from the root, e.g. [cache, ls]. */
  private static List<List<String>> commandPaths() {
    CommandLine root = new CommandLine(new Main());
    for (Class<?> c : Main.COMMANDS) {
      root.addSubcommand(c);
    }
    List<List<String>> paths = new ArrayList<>();
    walk(root, new ArrayList<>(), paths);
    return paths;
  }

  private static void walk(CommandLine cl, List<String> path, List<List<String>> out) {
    out.add(List.copyOf(path));
    cl.getSubcommands().forEach((name, sub) -> {
      // Aliases appear as keys too; visit each command once, under its own name.
      if (name.equals(sub.getCommandName())) {
        List<String> p = new ArrayList<>(path);
        p.add(name);
        walk(sub, p, out);
      }
    });
  }

  private record Run(int code, String out, String err) {}

  private static Run run(List<String> args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = Main.run(args.toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(err, true));
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void theTreeHoldsEveryCommand() {
    List<List<String>> paths = commandPaths();
    // Guards the walk itself: the root, every top-level command and the nested ones are found.
    assertTrue(paths.contains(List.of()), paths.toString());
    assertTrue(paths.contains(List.of("cache", "ls")), paths.toString());
    assertTrue(paths.contains(List.of("profile", "import")), paths.toString());
    assertTrue(paths.size() > Main.COMMANDS.size(), paths.toString());
  }

  @Test
  void everyCommandAnswersHelpWithUsageAndExitZero() {
    for (List<String> path : commandPaths()) {
      if (path.equals(List.of("help"))) {
        continue; // picocli's help command takes a command name, not --help
      }
      for (String flag : List.of("-h", "--help")) {
        List<String> args = new ArrayList<>(path);
        args.add(flag);
        Run r = run(args);
        String what = "modelcache " + String.join(" ", args);
        assertEquals(0, r.code(), what + " exit code; stderr: " + r.err());
        assertTrue(r.out().startsWith("Usage: modelcache" + (path.isEmpty() ? "" : " " + String.join(" ", path))),
            what + " printed:\n" + r.out() + r.err());
        assertEquals("", r.err(), what + " stderr");
      }
    }
  }

  @Test
  void everyOptionAndParameterHasADescription() {
    CommandLine root = new CommandLine(new Main());
    for (Class<?> c : Main.COMMANDS) {
      root.addSubcommand(c);
    }
    Main.addHelpOptions(root);
    List<String> missing = new ArrayList<>();
    collectUndocumented(root, missing);
    assertEquals(List.of(), missing, "options or parameters without a description");
  }

  private static void collectUndocumented(CommandLine cl, List<String> missing) {
    CommandSpec spec = cl.getCommandSpec();
    if (!(cl.getCommand() instanceof CommandLine.HelpCommand)) {
      if (spec.usageMessage().description().length == 0) {
        missing.add(spec.qualifiedName() + " (the command itself)");
      }
      List<ArgSpec> args = new ArrayList<>(spec.options());
      args.addAll(spec.positionalParameters());
      for (ArgSpec a : args) {
        String[] d = a.description();
        if (d.length == 0 || String.join("", d).isBlank()) {
          missing.add(spec.qualifiedName() + " " + a.paramLabel()
              + (a.isOption() ? " " + ((CommandLine.Model.OptionSpec) a).longestName() : ""));
        }
      }
    }
    cl.getSubcommands().forEach((name, sub) -> {
      if (name.equals(sub.getCommandName())) {
        collectUndocumented(sub, missing);
      }
    });
  }

  @Test
  void versionNamesTheBuildCommitAndJdk() {
    Run r = run(List.of("--version"));
    assertEquals(0, r.code(), r.err());
    String[] lines = r.out().split("\n");
    // The version and commit come from build.properties, written by the build from the pom and git.
    java.util.Properties p = Main.BuildInfo.load();
    assertFalse(p.isEmpty(), "build.properties missing from the build output");
    String version = p.getProperty("git.build.version");
    assertTrue(Pattern.matches("\\d+\\.\\d+\\.\\d+(-SNAPSHOT)?", version), version);
    assertTrue(lines[0].startsWith("modelcache " + version + " (commit "), lines[0]);
    String commit = p.getProperty("git.commit.id.abbrev");
    assertTrue(commit != null && Pattern.matches("[0-9a-f]{7,40}", commit), "commit " + commit);
    assertTrue(lines[0].contains("(commit " + commit), lines[0]);
    assertTrue(lines[1].startsWith("JDK " + Runtime.version()), lines[1]);
    assertEquals(r.out(), run(List.of("-V")).out());
  }
}
