package io.modelcache.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Debian's {@code docker-registry} (Distribution 2.8) on a free 127.0.0.1 port with filesystem
 * storage in its own directory: the benchmark's upstream. Its JSON log goes to {@code registry.log};
 * {@link #blobBytesSince} sums what it sent for blob GETs, as the registry itself counted it
 * ({@code http.response.written}). Not thread-safe; one owner.
 */
final class BenchRegistry implements AutoCloseable {
  static final Path BINARY = Path.of("/usr/bin/docker-registry");
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path dir;
  private final Path log;
  private final int port;
  private Process process;

  private BenchRegistry(Path dir, int port) {
    this.dir = dir;
    this.log = dir.resolve("registry.log");
    this.port = port;
  }

  static BenchRegistry start(Path dir) throws IOException {
    if (!Files.isExecutable(BINARY)) {
      throw new IOException(BINARY + " not found: apt-get install docker-registry");
    }
    Files.createDirectories(dir.resolve("storage"));
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    BenchRegistry r = new BenchRegistry(dir, port);
    Path config = dir.resolve("config.yml");
    Files.writeString(config, "version: 0.1\n"
        + "log:\n  level: info\n  formatter: json\n  accesslog:\n    disabled: true\n"
        + "storage:\n  filesystem:\n    rootdirectory: " + dir.resolve("storage") + "\n"
        + "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        + "http:\n  addr: 127.0.0.1:" + port + "\n  secret: modelcache-bench\n");
    ProcessBuilder pb = new ProcessBuilder(BINARY.toString(), "serve", config.toString())
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(r.log.toFile()));
    pb.environment().keySet().removeIf(k -> k.startsWith("REGISTRY_"));
    r.process = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!r.answers()) {
      if (!r.process.isAlive() || System.nanoTime() > deadline) {
        r.close();
        throw new IOException("docker-registry did not start on 127.0.0.1:" + port + "; see " + r.log);
      }
      sleep(50);
    }
    return r;
  }

  private boolean answers() {
    try {
      HttpURLConnection c = (HttpURLConnection) URI.create(base() + "/v2/").toURL().openConnection();
      c.setConnectTimeout(500);
      c.setReadTimeout(2000);
      int code = c.getResponseCode();
      c.disconnect();
      return code == 200;
    } catch (IOException e) {
      return false;
    }
  }

  String hostPort() {
    return "127.0.0.1:" + port;
  }

  String base() {
    return "http://" + hostPort();
  }

  long pid() {
    return process.pid();
  }

  /** Current size of the log: pass it to {@link #blobBytesSince} to count one step. */
  long logMark() throws IOException {
    return Files.size(log);
  }

  /** Bytes the registry wrote for successful blob GETs logged after {@code mark}. */
  long blobBytesSince(long mark) throws IOException {
    sleep(200); // the completion line follows the last byte by a moment
    long sum = 0;
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
      f.seek(mark);
      byte[] rest = new byte[(int) (f.length() - mark)];
      f.readFully(rest);
      for (String line : new String(rest, StandardCharsets.UTF_8).split("\n")) {
        if (!line.startsWith("{") || !line.contains("response completed")) {
          continue;
        }
        JsonNode n;
        try {
          n = JSON.readTree(line);
        } catch (IOException partial) {
          continue;
        }
        if (n.path("http.request.method").asText("").equals("GET")
            && n.path("http.request.uri").asText("").contains("/blobs/")
            && n.path("http.response.status").asInt(0) / 100 == 2) {
          sum += n.path("http.response.written").asLong(0);
        }
      }
    }
    return sum;
  }

  @Override
  public void close() {
    Process p = process;
    if (p == null) {
      return;
    }
    process = null;
    p.destroy();
    try {
      if (!p.waitFor(5, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
