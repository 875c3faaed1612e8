package io.modelcache.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Runs Debian's {@code /usr/bin/docker-registry} (Distribution 2.8) as a child process on a free
 * 127.0.0.1 port, with filesystem storage under the given work directory. Its JSON log (stdout and
 * stderr) goes to {@code registry.log} in that directory and is parsed by {@link #accessLog()}.
 */
public final class RegistryHarness implements AutoCloseable {
  public static final Path BINARY = Path.of("/usr/bin/docker-registry");
  private static final long START_TIMEOUT_MS = 20_000;
  private static final long STOP_GRACE_MS = 5_000;
  private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();
  private static final ObjectMapper JSON = new ObjectMapper();

  static {
    Runtime.getRuntime()
        .addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "registry-harness-reaper"));
  }

  private final Path workDir;
  private final Path config;
  private final Path storage;
  private final Path logFile;
  private final int port;
  private final String user;
  private String password;
  private final TestCa tls;
  private Process process;

  private RegistryHarness(Path workDir, int port, String user, String password, TestCa tls) throws IOException {
    this.workDir = workDir.toAbsolutePath();
    this.port = port;
    this.user = user;
    this.password = password;
    this.tls = tls;
    this.storage = this.workDir.resolve("storage");
    this.config = this.workDir.resolve("registry-config.yml");
    this.logFile = this.workDir.resolve("registry.log");
    Files.createDirectories(storage);
    writeConfig();
  }

  /** An anonymous registry (no auth). */
  public static RegistryHarness start(Path workDir) throws IOException {
    return startInternal(workDir, null, null);
  }

  /** A registry that requires HTTP Basic auth for {@code user}/{@code password} (htpasswd, bcrypt). */
  public static RegistryHarness startWithBasicAuth(Path workDir, String user, String password) throws IOException {
    return startInternal(workDir, user, password);
  }

  /** A registry serving HTTPS with {@code tls}'s certificate (http.tls), optionally with Basic auth. */
  public static RegistryHarness startWithTls(Path workDir, TestCa tls, String user, String password) throws IOException {
    return startInternal(workDir, user, password, tls);
  }

  private static RegistryHarness startInternal(Path workDir, String user, String password) throws IOException {
    return startInternal(workDir, user, password, null);
  }

  private static RegistryHarness startInternal(Path workDir, String user, String password, TestCa tls)
      throws IOException {
    if (!Files.isExecutable(BINARY)) {
      throw new IllegalStateException(
          BINARY + " not found: install Debian's docker-registry package (apt-get install docker-registry)");
    }
    RegistryHarness h = new RegistryHarness(workDir, freePort(), user, password, tls);
    h.launch();
    return h;
  }

  /** A TCP port that was free on 127.0.0.1 a moment ago. */
  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void writeConfig() throws IOException {
    StringBuilder y = new StringBuilder();
    y.append("version: 0.1\n")
        .append("log:\n  level: info\n  formatter: json\n  accesslog:\n    disabled: true\n")
        .append("storage:\n  filesystem:\n    rootdirectory: ").append(storage).append('\n')
        .append("  delete:\n    enabled: true\n")
        .append("  maintenance:\n    uploadpurging:\n      enabled: false\n")
        .append("http:\n  addr: 127.0.0.1:").append(port).append('\n')
        .append("  secret: modelcache-test-secret\n");
    if (tls != null) {
      y.append("  tls:\n    certificate: ").append(tls.certPem().toAbsolutePath())
          .append("\n    key: ").append(tls.keyPem().toAbsolutePath()).append('\n');
    }
    if (user != null) {
      Path htpasswd = workDir.resolve("htpasswd");
      Files.writeString(htpasswd, bcryptEntry(user, password));
      y.append("auth:\n  htpasswd:\n    realm: modelcache-test\n    path: ").append(htpasswd).append('\n');
    }
    Files.writeString(config, y.toString());
  }

  private static String bcryptEntry(String user, String password) throws IOException {
    Process p = new ProcessBuilder("htpasswd", "-nbB", user, password).redirectErrorStream(true).start();
    try {
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0 || !out.startsWith(user + ":")) {
        throw new IOException("htpasswd -nbB failed (install apache2-utils): " + out);
      }
      return out + "\n";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running htpasswd", e);
    } finally {
      p.destroyForcibly();
    }
  }

  private synchronized void launch() throws IOException {
    ProcessBuilder pb = new ProcessBuilder(BINARY.toString(), "serve", config.toString())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
    pb.environment().keySet().removeIf(k -> k.startsWith("REGISTRY_"));
    process = pb.start();
    LIVE.add(process);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MS);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        LIVE.remove(process);
        throw new IOException("docker-registry exited with " + process.exitValue() + " at start; log: " + tail());
      }
      if (answers()) {
        return;
      }
      sleep(50);
    }
    stop();
    throw new IOException("docker-registry did not answer GET /v2/ on " + hostPort() + " within "
        + START_TIMEOUT_MS + " ms; log: " + tail());
  }

  /**
   * Replaces the password in the htpasswd file. Debian's docker-registry re-reads the file when its
   * modification time changes (seen on a request 1 s later); tests that need the change to hold at once,
   * whatever the file system's timestamp granularity, also {@link #restart()} it.
   */
  public synchronized void changePassword(String newPassword) throws IOException {
    if (user == null) {
      throw new IllegalStateException("this registry has no auth");
    }
    password = newPassword;
    writeConfig();
  }

  /**
   * Waits (bounded, 20 s) until the registry refuses {@code oldPassword} with 401, i.e. it has read the
   * htpasswd file written by {@link #changePassword}. Plain HTTP registries only.
   */
  public void awaitRefused(String oldPassword) throws IOException {
    String basic = "Basic " + java.util.Base64.getEncoder()
        .encodeToString((user + ":" + oldPassword).getBytes(StandardCharsets.UTF_8));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline) {
      HttpURLConnection c = (HttpURLConnection) URI.create("http://" + hostPort() + "/v2/").toURL().openConnection();
      c.setConnectTimeout(1000);
      c.setReadTimeout(5000);
      c.setRequestProperty("Authorization", basic);
      int code = c.getResponseCode();
      c.disconnect();
      if (code == 401) {
        return;
      }
      sleep(100);
    }
    throw new IOException("registry " + hostPort() + " still accepts the old password 20 s after the change");
  }

  private boolean answers() {
    if (tls != null) {
      // HTTPS with a private CA: a listening socket is the registry up (it listens after loading the key).
      try (java.net.Socket s = new java.net.Socket()) {
        s.connect(new java.net.InetSocketAddress("127.0.0.1", port), 500);
        return true;
      } catch (IOException e) {
        return false;
      }
    }
    try {
      HttpURLConnection c = (HttpURLConnection) URI.create("http://" + hostPort() + "/v2/").toURL().openConnection();
      c.setConnectTimeout(500);
      c.setReadTimeout(2000);
      int code = c.getResponseCode();
      c.disconnect();
      return code == 200 || code == 401;
    } catch (IOException e) {
      return false;
    }
  }

  private String tail() {
    try {
      String s = Files.exists(logFile) ? Files.readString(logFile) : "";
      return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
    } catch (IOException e) {
      return "(unreadable: " + e.getMessage() + ")";
    }
  }

  public String hostPort() {
    return "127.0.0.1:" + port;
  }

  public int port() {
    return port;
  }

  public Path storageDir() {
    return storage;
  }

  public Path logFile() {
    return logFile;
  }

  /** The file the registry stores a blob's bytes in, so tests can corrupt or delete it. */
  public Path blobDataPath(Digest d) {
    return storage.resolve("docker/registry/v2/blobs/sha256").resolve(d.hex().substring(0, 2))
        .resolve(d.hex()).resolve("data");
  }

  public synchronized boolean isRunning() {
    return process != null && process.isAlive();
  }

  /** Kills the registry (storage and port are kept for {@link #restart()}). */
  public synchronized void stop() {
    Process p = process;
    if (p == null) {
      return;
    }
    p.destroy();
    try {
      if (!p.waitFor(STOP_GRACE_MS, TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        p.waitFor(STOP_GRACE_MS, TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    LIVE.remove(p);
    process = null;
  }

  /** Starts the registry again on the same port with the same storage. */
  public synchronized void restart() throws IOException {
    stop();
    launch();
  }

  /** Every "response completed" line logged so far, in order. */
  public List<AccessLogEntry> accessLog() {
    List<AccessLogEntry> out = new ArrayList<>();
    List<String> lines;
    try {
      lines = Files.exists(logFile) ? Files.readAllLines(logFile, StandardCharsets.UTF_8) : List.of();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (String line : lines) {
      if (!line.startsWith("{") || !line.contains("\"response completed")) {
        continue;
      }
      try {
        JsonNode n = JSON.readTree(line);
        String msg = n.path("msg").asText("");
        if (!msg.startsWith("response completed")) {
          continue;
        }
        out.add(new AccessLogEntry(
            n.path("http.request.method").asText(""),
            n.path("http.request.uri").asText(""),
            n.path("http.response.status").asInt(0),
            n.path("http.response.written").asLong(0),
            n.path("http.request.remoteaddr").asText("")));
      } catch (IOException partialLine) {
        // The last line may still be being written.
      }
    }
    return out;
  }

  /** Bytes the registry wrote for GETs of {@code /v2/<any>/blobs/<d>} (successful or not). */
  public long blobBytesServed(Digest d) {
    String suffix = "/blobs/" + d;
    long sum = 0;
    for (AccessLogEntry e : accessLog()) {
      String path = e.uri();
      int q = path.indexOf('?');
      if (q >= 0) {
        path = path.substring(0, q);
      }
      if (e.method().equals("GET") && path.startsWith("/v2/") && path.endsWith(suffix) && e.status() / 100 == 2) {
        sum += e.written();
      }
    }
    return sum;
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
