package io.modelcache.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * systemd's side of a service with a file descriptor store, for machines whose PID 1 is not
 * systemd: {@code src/test/resources/systemd/service_manager.py} binds the unit's NOTIFY_SOCKET,
 * accepts messages from the main process only, keeps what it stores (FDSTORE=1, FDNAME,
 * FDSTOREREMOVE=1, duplicates compared with kcmp, dropped on POLLHUP/POLLERR) and passes the store
 * back from fd 3 on at each start (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID), as systemd 252 does.
 * {@link #kill} then {@link #start} is a crash under {@code Restart=on-failure}, {@link #term} then
 * {@link #start} is {@code systemctl restart}, {@link #stop} is {@code systemctl stop} (the store is
 * released). Every event it reports is kept in {@link #events()}; each wait is bounded.
 */
final class ServiceManager implements AutoCloseable {
  static final Path SCRIPT = Path.of("src", "test", "resources", "systemd", "service_manager.py").toAbsolutePath();

  private final Process process;
  private final OutputStream commands;
  private final List<String> events = new ArrayList<>();
  private int seen;
  private long servicePid = -1;

  private ServiceManager(Process process) {
    this.process = process;
    this.commands = process.getOutputStream();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null; ) {
          synchronized (events) {
            events.add(line);
            events.notifyAll();
          }
        }
      } catch (IOException e) {
        // the manager ended; waits time out with what was seen
      }
    }, "service-manager-events");
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * A manager for {@code command} (not started yet), its notify socket {@code socket}, the service's
   * output appended to {@code log}; {@code env} is added to the service's environment.
   */
  static ServiceManager of(Path socket, Path log, List<String> command, Map<String, String> env) throws IOException {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")),
        "python3 is not installed: the systemd stand-in cannot run (tests of the systemd path skipped)");
    List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3", SCRIPT.toString(), socket.toString(), log.toString()));
    cmd.addAll(command);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    return new ServiceManager(pb.start());
  }

  /** Starts the service with the store; returns its pid. */
  long start() throws IOException, InterruptedException {
    send("start");
    String[] started = await("STARTED ").split(" ");
    servicePid = Long.parseLong(started[1]);
    return servicePid;
  }

  /** SIGKILL to the service (a crash); the store stays. Returns its exit status. */
  int kill() throws IOException, InterruptedException {
    send("kill");
    return exited();
  }

  /** SIGTERM to the service, as the stop half of {@code systemctl restart}; the store stays. */
  int term() throws IOException, InterruptedException {
    send("term");
    return exited();
  }

  /** {@code systemctl stop}: SIGTERM, then the store is released; the manager exits. */
  void stop() throws IOException, InterruptedException {
    if (process.isAlive()) {
      send("stop");
      await("STOPPED");
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }

  /** The names in the store now, in store order (a name once per descriptor). */
  List<String> store() throws IOException, InterruptedException {
    send("store");
    String line = await("STORE "); // not STORED
    String names = line.length() > "STORE ".length() ? line.substring("STORE ".length()) : "";
    return names.isEmpty() ? List.of() : Arrays.asList(names.split(","));
  }

  /** Whether the service runs (as far as the manager has reported). */
  boolean serviceRunning() {
    synchronized (events) {
      int lastStart = -1;
      int lastExit = -1;
      for (int i = 0; i < events.size(); i++) {
        if (events.get(i).startsWith("STARTED ")) {
          lastStart = i;
        } else if (events.get(i).startsWith("EXITED ")) {
          lastExit = i;
        }
      }
      return process.isAlive() && lastStart > lastExit;
    }
  }

  long servicePid() {
    return servicePid;
  }

  /** Every event so far. */
  List<String> events() {
    synchronized (events) {
      return List.copyOf(events);
    }
  }

  private int exited() throws IOException, InterruptedException {
    String code = await("EXITED ").substring("EXITED ".length());
    return Integer.parseInt(code);
  }

  private void send(String command) throws IOException {
    commands.write((command + "\n").getBytes(StandardCharsets.UTF_8));
    commands.flush();
  }

  /** The next event after the last one awaited that starts with {@code prefix}, within 90 s. */
  String await(String prefix) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    synchronized (events) {
      while (true) {
        for (int i = seen; i < events.size(); i++) {
          if (events.get(i).startsWith(prefix)) {
            seen = i + 1;
            return events.get(i);
          }
        }
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0 || !process.isAlive() && seen >= events.size()) {
          throw new AssertionError("the service manager reported no '" + prefix + "' (alive " + process.isAlive()
              + "); its events: " + events);
        }
        events.wait(Math.min(left, 200));
      }
    }
  }

  /**
   * {@link #stop}; if that fails, the manager and the service are killed (the service runs in its
   * own session): the store's descriptors close with the manager, so no connection outlives a test.
   */
  @Override
  public void close() throws IOException, InterruptedException {
    try {
      stop();
    } finally {
      process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      if (servicePid > 0) {
        ProcessHandle.of(servicePid).ifPresent(ProcessHandle::destroyForcibly);
      }
    }
  }
}
