package io.modelcache.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code modelcache daemon} child process with its own home, stopped with SIGTERM.
 *
 * <p>A stop is not an unmount by default (restart.keepMounts): unless a test takes over kept mounts
 * ({@link #keepingMounts}), the daemon runs with {@code --unmount-on-exit}, so SIGTERM unmounts as
 * the test expects, and {@link #kill} also ends the holder of the home, so a crash leaves stale
 * mountpoints as it would without a holder and no connection waits out the grace after the test.
 */
final class DaemonProcess implements AutoCloseable {
  final Path home;
  private final List<String> extraArgs;
  private boolean keepingMounts;
  private List<String> prefix = List.of();
  private Path launcher;
  private final java.util.Map<String, String> env = new java.util.HashMap<>();
  private Process process;
  /** With {@link #underSystemd}: the stand-in for systemd that starts, stops and keeps for it. */
  private ServiceManager manager;
  private boolean underSystemd;
  /** Where this start's lines begin in the home's (appended) daemon.log. */
  private long logStart;

  DaemonProcess(Path home, String... extraArgs) {
    this.home = home;
    this.extraArgs = List.of(extraArgs);
  }

  /** Runs this launcher instead of the build's (e.g. a copy another user may read). */
  DaemonProcess launcher(Path launcher) {
    this.launcher = launcher;
    return this;
  }

  /** Runs the daemon under {@code command} (e.g. unshare and a script that ends in exec "$@"). */
  DaemonProcess under(String... command) {
    this.prefix = List.of(command);
    return this;
  }

  /**
   * The test takes kept mounts over itself (restart tests): no {@code --unmount-on-exit}, and
   * {@link #kill} leaves the holder; the test ends the holder in its cleanup.
   */
  DaemonProcess keepingMounts() {
    this.keepingMounts = true;
    return this;
  }

  /**
   * Runs the daemon as systemd runs the shipped unit ({@link ServiceManager}: NOTIFY_SOCKET, the
   * file descriptor store passed back at each start): its mounts' connections are kept in that
   * store instead of a holder. {@link #kill} is a crash, {@link #stop} the stop half of
   * {@code systemctl restart} (both keep the store), {@link #endKeeper} is {@code systemctl stop}.
   */
  DaemonProcess underSystemd() {
    this.underSystemd = true;
    return this;
  }

  /** Environment variables for the daemon process (before {@link #start}). */
  DaemonProcess env(java.util.Map<String, String> vars) {
    env.putAll(vars);
    return this;
  }

  DaemonProcess start() throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(prefix);
    cmd.addAll(List.of((launcher != null ? launcher : Cli.launcher()).toString(), "daemon", "--home", home.toString()));
    cmd.addAll(extraArgs);
    if (!keepingMounts && !extraArgs.contains("--unmount-on-exit")) {
      cmd.add("--unmount-on-exit");
    }
    if (!extraArgs.contains("--metrics-address")) {
      cmd.addAll(List.of("--metrics-address", "127.0.0.1:0")); // never collide with another daemon
    }
    Files.createDirectories(home);
    Files.deleteIfExists(home.resolve("modelcache.sock")); // a crashed daemon's socket file stays behind
    Path log = home.resolve("daemon.log");
    logStart = Files.exists(log) ? Files.size(log) : 0; // a restart on the same home appends
    if (underSystemd) {
      if (manager == null) {
        manager = ServiceManager.of(home.resolve("notify.sock"), log, cmd, env);
      }
      manager.start();
    } else {
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
      pb.environment().putAll(env);
      process = pb.start();
    }
    Path sock = home.resolve("modelcache.sock");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!Files.exists(sock)) {
      if (!running()) {
        throw new AssertionError("daemon exited:\n" + Files.readString(log)
            + (manager != null ? "\nservice manager: " + manager.events() : ""));
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

  /** The metrics port the daemon (the one started last) reported in its ready line. */
  int metricsPort() throws IOException, InterruptedException {
    for (int i = 0; i < 100 && !sinceStart().contains("metrics on "); i++) {
      Thread.sleep(100); // the ready line follows the socket by a moment
    }
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("metrics on [^:]+:(\\d+)").matcher(sinceStart());
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
    return manager != null ? manager.servicePid() : process.pid();
  }

  /** The stand-in for systemd, with {@link #underSystemd} once started. */
  ServiceManager serviceManager() {
    return manager;
  }

  private boolean running() {
    return manager != null ? manager.serviceRunning() : process != null && process.isAlive();
  }

  /** SIGTERM, as systemd stops it; waits for a clean exit. */
  void stop() throws InterruptedException {
    if (manager != null) {
      if (manager.serviceRunning()) {
        try {
          int status = manager.term();
          if (status != 0 && status != 143) { // 143: the JVM's exit after its shutdown hooks ran on SIGTERM
            throw new AssertionError("daemon exited " + status + " on SIGTERM");
          }
        } catch (IOException e) {
          throw new AssertionError("the service manager is gone", e);
        }
      }
      return;
    }
    if (process != null && process.isAlive()) {
      process.destroy();
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        if (!keepingMounts) {
          killHolder(home); // what it kept would wait out the grace otherwise
        }
        throw new AssertionError("daemon did not stop within 60 s of SIGTERM");
      }
    }
  }

  /** SIGKILL: the crash case (and, unless {@link #keepingMounts}, of the home's holder too). */
  void kill() throws InterruptedException {
    if (manager != null) {
      try {
        if (manager.serviceRunning()) {
          manager.kill();
        }
        if (!keepingMounts) {
          manager.stop();
        }
      } catch (IOException e) {
        throw new AssertionError("the service manager is gone", e);
      }
      return;
    }
    if (process != null && process.isAlive()) {
      process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    if (!keepingMounts) {
      killHolder(home);
    }
  }

  /**
   * Ends whatever keeps this home's connections (their mounts then end): the holder process, or,
   * under systemd, the unit (stop: SIGTERM to a running daemon, then the store is released).
   */
  void endKeeper() throws InterruptedException {
    if (manager != null) {
      try {
        manager.close();
      } catch (IOException e) {
        throw new AssertionError("the service manager is gone", e);
      }
    } else {
      holderOf(home).ifPresent(ProcessHandle::destroyForcibly);
    }
  }

  /** The holder process serving {@code home}, if one runs. */
  static java.util.Optional<ProcessHandle> holderOf(Path home) {
    String sock = home.resolve("holder.sock").toString();
    return ProcessHandle.allProcesses().filter(p -> {
      try {
        return List.of(Files.readString(Path.of("/proc/" + p.pid() + "/cmdline")).split("\0")).contains(sock);
      } catch (IOException | RuntimeException e) {
        return false;
      }
    }).findFirst();
  }

  /** Ends the holder of {@code home} (its kept connections end with it: their mounts turn stale). */
  static void killHolder(Path home) throws InterruptedException {
    java.util.Optional<ProcessHandle> h = holderOf(home);
    if (h.isPresent()) {
      h.get().destroyForcibly();
      try {
        h.get().onExit().get(30, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        throw new AssertionError("the holder of " + home + " did not exit", e);
      }
    }
  }

  private String sinceStart() throws IOException {
    String all = log();
    return all.substring((int) Math.min(logStart, all.length()));
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
