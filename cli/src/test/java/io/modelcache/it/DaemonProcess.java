package io.modelcache.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A real {@code modelcache daemon} child process with its own home, stopped with SIGTERM. */
final class DaemonProcess implements AutoCloseable {
  final Path home;
  private final List<String> extraArgs;
  private List<String> prefix = List.of();
  private final java.util.Map<String, String> env = new java.util.HashMap<>();
  private Process process;

  DaemonProcess(Path home, String... extraArgs) {
    this.home = home;
    this.extraArgs = List.of(extraArgs);
  }

  /** Runs the daemon under {@code command} (e.g. unshare and a script that ends in exec "$@"). */
  DaemonProcess under(String... command) {
    this.prefix = List.of(command);
    return this;
  }

  /** Environment variables for the daemon process (before {@link #start}). */
  DaemonProcess env(java.util.Map<String, String> vars) {
    env.putAll(vars);
    return this;
  }

  DaemonProcess start() throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(prefix);
    cmd.addAll(List.of(Cli.launcher().toString(), "daemon", "--home", home.toString()));
    cmd.addAll(extraArgs);
    if (!extraArgs.contains("--metrics-address")) {
      cmd.addAll(List.of("--metrics-address", "127.0.0.1:0")); // never collide with another daemon
    }
    Files.createDirectories(home);
    Files.deleteIfExists(home.resolve("modelcache.sock")); // a crashed daemon's socket file stays behind
    Path log = home.resolve("daemon.log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    process = pb.start();
    Path sock = home.resolve("modelcache.sock");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!Files.exists(sock)) {
      if (!process.isAlive()) {
        throw new AssertionError("daemon exited " + process.exitValue() + ":\n" + Files.readString(log));
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("daemon did not open its socket in 60 s:\n" + Files.readString(log));
      }
      Thread.sleep(100);
    }
    return this;
  }

  /**
   * A config file that turns read-ahead and background fill off, for tests that count exactly what
   * on-demand reads fetched or need part of a model to stay uncached.
   */
  static String noPrefetchConfig(Path dir) throws IOException {
    Path cfg = dir.resolve("no-prefetch.yaml");
    if (!Files.exists(cfg)) {
      Files.writeString(cfg, "readAhead:\n  prefetch: false\n  backgroundFill: false\n");
    }
    return cfg.toString();
  }

  /** The metrics port the daemon reported in its ready line. */
  int metricsPort() throws IOException, InterruptedException {
    for (int i = 0; i < 100 && !log().contains("metrics on "); i++) {
      Thread.sleep(100); // the ready line follows the socket by a moment
    }
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("metrics on [^:]+:(\\d+)").matcher(log());
    int port = -1;
    while (m.find()) {
      port = Integer.parseInt(m.group(1));
    }
    if (port < 0) {
      throw new AssertionError("daemon did not report a metrics port:\n" + log());
    }
    return port;
  }

  long pid() {
    return process.pid();
  }

  /** SIGTERM, as systemd stops it; waits for a clean exit. */
  void stop() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroy();
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError("daemon did not stop within 60 s of SIGTERM");
      }
    }
  }

  /** SIGKILL: the crash case. */
  void kill() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }

  String log() throws IOException {
    Path log = home.resolve("daemon.log");
    return Files.exists(log) ? Files.readString(log) : "";
  }

  @Override
  public void close() throws InterruptedException {
    stop();
  }
}
