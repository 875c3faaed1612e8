package io.modelcache.cli;

import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code modelcache} command. Maps every failure to one line and an exit code. */
@Command(
    name = "modelcache",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Lazy, node-local mounts of ModelPack model artifacts from OCI registries.")
public final class Main implements Runnable {
  /**
   * The subcommands, in the order usage help lists them. They are added programmatically rather than
   * through {@code @Command(subcommands=...)} so that a run of one command introspects only that
   * command: picocli's reflection over all of them cost about 40 ms of a client command's start.
   */
  static final List<Class<?>> COMMANDS = List.of(
      DaemonCommand.class,
      HolderCommand.class,
      MountCommand.class,
      UmountCommand.class,
      LsCommand.class,
      StatusCommand.class,
      CacheCommand.class,
      ProfileCommand.class,
      PushCommand.class,
      IndexCommand.class,
      PullCommand.class,
      SignCommand.class,
      InspectCommand.class,
      LoginCommand.class,
      GenModelCommand.class,
      CommandLine.HelpCommand.class);

  @picocli.CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
  }

  public static void main(String[] args) {
    System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /** Runs the command line and returns the exit code (tests call this in-process). */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    CommandLine cl = new CommandLine(new Main());
    for (Class<?> c : commandsFor(args)) {
      cl.addSubcommand(c);
    }
    addHelpOptions(cl);
    // An empty path argument is a mistake, not the current directory (Path.of("") would be).
    cl.registerConverter(java.nio.file.Path.class, v -> {
      if (v.isBlank()) {
        throw new CommandLine.TypeConversionException("an empty path");
      }
      return java.nio.file.Path.of(v);
    });
    cl.setOut(out);
    cl.setErr(err);
    // A usage mistake is one line that says what is wrong and where the help is, not the whole help.
    cl.setParameterExceptionHandler((ex, given) -> {
      CommandLine c = ex.getCommandLine();
      String hint = "";
      if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
        hint = "; did you mean " + u.getSuggestions().get(0) + "?"; // the closest
      }
      c.getErr().println("modelcache: " + ex.getMessage() + hint + " (see '" + c.getCommandSpec().qualifiedName() + " --help')");
      return c.getCommandSpec().exitCodeOnInvalidInput();
    });
    cl.setExecutionExceptionHandler((ex, line, parsed) -> {
      FailureLine f = FailureLine.of(ex);
      err.println(f.line());
      if (f.internal() && System.getenv("MODELCACHE_DEBUG") != null) {
        ex.printStackTrace(err);
      }
      return f.exitCode();
    });
    return cl.execute(args);
  }

  /**
   * The subcommands {@code args} need: only the named one when the first argument names a command
   * other than help (the root has no options that take a value, so the first argument is the command
   * or a root option); all of them otherwise, for root usage help, help and "unknown command" errors.
   */
  static List<Class<?>> commandsFor(String[] args) {
    if (args.length > 0 && !args[0].equals("help")) {
      for (Class<?> c : COMMANDS) {
        Command cmd = c.getAnnotation(Command.class);
        if (cmd.name().equals(args[0]) || List.of(cmd.aliases()).contains(args[0])) {
          return List.of(c);
        }
      }
    }
    return COMMANDS;
  }

  /**
   * Gives every command and subcommand in the tree {@code -h}/{@code --help} (picocli's usage help
   * option), so that help works before required parameters are checked, and a command added later
   * gets it without remembering to.
   */
  static void addHelpOptions(CommandLine cl) {
    CommandLine.Model.CommandSpec spec = cl.getCommandSpec();
    if (spec.optionsMap().get("--help") == null && spec.optionsMap().get("-h") == null
        && !(cl.getCommand() instanceof CommandLine.HelpCommand)) {
      spec.addOption(CommandLine.Model.OptionSpec.builder("-h", "--help")
          .usageHelp(true)
          .description("Show this help message and exit.")
          .build());
    }
    for (CommandLine sub : cl.getSubcommands().values()) {
      addHelpOptions(sub);
    }
  }

  /** Version, git commit and the JDK, from {@code build.properties} written by the build. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      java.util.Properties p = BuildInfo.load();
      String version = p.getProperty("git.build.version", "unknown");
      String commit = p.getProperty("git.commit.id.abbrev");
      String line = "modelcache " + version + " (commit " + (commit == null ? "unknown" : commit)
          + ("true".equals(p.getProperty("git.dirty")) ? ", modified" : "")
          + (p.getProperty("git.commit.time") == null ? "" : ", " + p.getProperty("git.commit.time")) + ")";
      return new String[] {
        line,
        "JDK " + System.getProperty("java.runtime.version") + " (" + System.getProperty("java.vm.vendor") + ", "
            + System.getProperty("java.home") + ")"
      };
    }
  }

  /** The build's properties resource; empty when the jar was built without it. */
  static final class BuildInfo {
    private BuildInfo() {}

    static java.util.Properties load() {
      java.util.Properties p = new java.util.Properties();
      try (java.io.InputStream in = Main.class.getResourceAsStream("build.properties")) {
        if (in != null) {
          p.load(in);
        }
      } catch (java.io.IOException e) {
        // A damaged resource reads as "unknown" below; --version must not fail.
      }
      return p;
    }
  }
}
