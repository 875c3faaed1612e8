package io.modelcache.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Debian's {@code tinyproxy} as a child process in the foreground, with its own config on a free
 * 127.0.0.1 port and its own log file, whose "Request" lines tell what went through it. CONNECT is
 * allowed to the given ports only (tinyproxy's own rule).
 */
public final class TinyProxy implements AutoCloseable {
  public static final Path BINARY = Path.of("/usr/bin/tinyproxy");
  private static final Pattern REQUEST = Pattern.compile("Request \\(file descriptor \\d+\\): (.*)$");

  private final Path dir;
  private final Path config;
  private final Path logFile;
  private final int port;
  private Process process;

  private TinyProxy(Path dir, int port, int... connectPorts) throws IOException {
    this.dir = Files.createDirectories(dir.toAbsolutePath());
    this.port = port;
    this.config = this.dir.resolve("tinyproxy.conf");
    this.logFile = this.dir.resolve("tinyproxy.log");
    StringBuilder c = new StringBuilder()
        .append("Port ").append(port).append('\n')
        .append("Listen 127.0.0.1\n")
        .append("Timeout 60\n")
        .append("LogFile \"").append(logFile).append("\"\n")
        .append("LogLevel Info\n")
        .append("PidFile \"").append(this.dir.resolve("tinyproxy.pid")).append("\"\n")
        .append("MaxClients 64\n")
        .append("Allow 127.0.0.1\n");
    for (int p : connectPorts) {
      c.append("ConnectPort ").append(p).append('\n');
    }
    Files.writeString(config, c.toString());
  }

  /** Starts tinyproxy on a free port; {@code connectPorts} are the ports CONNECT may reach. */
  public static TinyProxy start(Path dir, int... connectPorts) throws IOException {
    if (!Files.isExecutable(BINARY)) {
      throw new IllegalStateException(BINARY + " not found: install Debian's tinyproxy package (apt-get install tinyproxy)");
    }
    TinyProxy t = new TinyProxy(dir, RegistryHarness.freePort(), connectPorts);
    t.launch();
    return t;
  }

  private synchronized void launch() throws IOException {
    process = new ProcessBuilder(BINARY.toString(), "-d", "-c", config.toString()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("tinyproxy.out").toFile())).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("tinyproxy exited with " + process.exitValue() + " at start; log: " + log());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return;
      } catch (IOException notYet) {
        sleep(50);
      }
    }
    stop();
    throw new IOException("tinyproxy did not listen on 127.0.0.1:" + port + " within 20 s; log: " + log());
  }

  /** {@code http://127.0.0.1:PORT}. */
  public String url() {
    return "http://127.0.0.1:" + port;
  }

  public int port() {
    return port;
  }

  public Path logFile() {
    return logFile;
  }

  /** Every request line the proxy logged, e.g. {@code GET http://127.0.0.1:5000/v2/ HTTP/1.1}. */
  public List<String> requests() {
    List<String> out = new ArrayList<>();
    for (String line : log().lines().toList()) {
      Matcher m = REQUEST.matcher(line);
      if (m.find()) {
        out.add(m.group(1).trim());
      }
    }
    return out;
  }

  private String log() {
    try {
      return Files.exists(logFile) ? Files.readString(logFile, StandardCharsets.UTF_8) : "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public synchronized boolean isRunning() {
    return process != null && process.isAlive();
  }

  /** Stops the proxy (SIGTERM, then SIGKILL); its port then refuses connections. */
  public synchronized void stop() {
    Process p = process;
    if (p == null) {
      return;
    }
    p.destroy();
    try {
      if (!p.waitFor(5, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    process = null;
  }

  @Override
  public void close() {
    stop();
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
