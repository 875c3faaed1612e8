package io.modelcache.cli;

import io.modelcache.error.ModelCacheException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code modelcache} command. Maps every failure to one line and an exit code. */
@Command(
    name = "modelcache",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Lazy, node-local mounts of ModelPack model artifacts from OCI registries.",
    subcommands = {
      DaemonCommand.class,
      MountCommand.class,
      UmountCommand.class,
      LsCommand.class,
      StatusCommand.class,
      CacheCommand.class,
      ProfileCommand.class,
      PushCommand.class,
      PullCommand.class,
      InspectCommand.class,
      LoginCommand.class,
      GenModelCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
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
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler((ex, line, parsed) -> {
      Throwable t = ex;
      while (!(t instanceof ModelCacheException) && t.getCause() != null && t.getCause() != t) {
        t = t.getCause();
      }
      if (t instanceof ModelCacheException mce) {
        err.println("modelcache: " + mce.getMessage());
        return mce.kind().exitCode;
      }
      err.println("modelcache: internal error: " + ex);
      if (System.getenv("MODELCACHE_DEBUG") != null) {
        ex.printStackTrace(err);
      }
      return 1;
    });
    return cl.execute(args);
  }

  /** Version from the jar manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"modelcache " + (v == null ? "dev" : v)};
    }
  }
}
