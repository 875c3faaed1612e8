package io.modelcache.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;

/**
 * The CLI's side of the control socket: one JSON request line, one JSON response line. A failed
 * request comes back as the daemon's one-line error with its kind.
 */
public final class ControlClient {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** A daemon that takes longer than this to answer is treated as hung; mounts answer in seconds. */
  public static final java.time.Duration DEFAULT_TIMEOUT = java.time.Duration.ofSeconds(300);
  /**
   * For requests the daemon answers from memory (ls, status): they never wait for a registry or the
   * cache's disk, so a daemon silent for this long is hung, and the user hears so in half a minute.
   */
  public static final java.time.Duration QUICK_TIMEOUT = java.time.Duration.ofSeconds(30);
  private static final java.util.concurrent.ScheduledExecutorService TIMER =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "control-timeout");
        t.setDaemon(true);
        return t;
      });
  private final Path home;
  private final java.time.Duration timeout;

  public ControlClient(Path home) {
    this(home, DEFAULT_TIMEOUT);
  }

  public ControlClient(Path home, java.time.Duration timeout) {
    this.home = home;
    this.timeout = timeout;
  }

  /** A client for a request the daemon answers from memory ({@link #QUICK_TIMEOUT}). */
  public static ControlClient quick(Path home) {
    return new ControlClient(home, QUICK_TIMEOUT);
  }

  public static ObjectNode request(String op) {
    return JSON.createObjectNode().put("op", op);
  }

  public JsonNode call(ObjectNode request) throws ModelCacheException {
    Path socket = ControlServer.socketPath(home);
    if (!Files.exists(socket)) {
      if (Files.isDirectory(home) && !Files.isExecutable(home)) {
        throw denied(socket, home); // the socket may well be there: we cannot look
      }
      throw noDaemon(socket);
    }
    java.util.concurrent.atomic.AtomicBoolean timedOut = new java.util.concurrent.atomic.AtomicBoolean();
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      var guard = TIMER.schedule(() -> {
        timedOut.set(true);
        try {
          ch.close(); // unblocks the read below
        } catch (IOException ignored) {
          // nothing more to do
        }
      }, timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
      try {
        return exchange(ch, socket, request);
      } finally {
        guard.cancel(false);
      }
    } catch (ModelCacheException e) {
      throw e;
    } catch (IOException e) {
      if (timedOut.get()) {
        throw new ModelCacheException(ModelCacheException.Kind.DAEMON,
            "daemon did not answer within "
            + (timeout.toMillis() < 1000 ? timeout.toMillis() + " ms" : timeout.toSeconds() + " s") + " (control socket " + socket + ")");
      }
      throw new ModelCacheException(ModelCacheException.Kind.DAEMON, "control socket " + socket + ": " + e.getMessage());
    }
  }

  private JsonNode exchange(SocketChannel ch, Path socket, ObjectNode request) throws IOException {
    try {
      ch.connect(UnixDomainSocketAddress.of(socket));
    } catch (IOException e) {
      if (String.valueOf(e.getMessage()).contains("Permission denied")) {
        throw denied(socket, socket);
      }
      throw noDaemon(socket);
    }
    OutputStream out = Channels.newOutputStream(ch);
    out.write(JSON.writeValueAsBytes(request));
    out.write('\n');
    out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
    String line = in.readLine();
    if (line == null) {
      throw new ModelCacheException(ModelCacheException.Kind.DAEMON, "daemon closed the connection without answering");
    }
    JsonNode resp = JSON.readTree(line);
    if (!resp.path("ok").asBoolean(false)) {
      ModelCacheException.Kind kind;
      try {
        kind = ModelCacheException.Kind.valueOf(resp.path("kind").asText("IO"));
      } catch (IllegalArgumentException e) {
        kind = ModelCacheException.Kind.IO;
      }
      throw new ModelCacheException(kind, resp.path("error").asText("daemon error"));
    }
    return resp;
  }

  /**
   * Permission denied on the socket (or on the home that holds it): says so, and which group the
   * daemon opened it to, read from {@code where}'s group when its group may use it.
   */
  static ModelCacheException denied(Path socket, Path where) {
    String group = null;
    try {
      PosixFileAttributes a = Files.readAttributes(where, PosixFileAttributes.class);
      boolean groupMay = a.permissions().contains(Files.isDirectory(where)
          ? PosixFilePermission.GROUP_EXECUTE : PosixFilePermission.GROUP_WRITE);
      String g = a.group().getName();
      if (groupMay && !g.equals("root") && !g.equals("0")) {
        group = g;
      }
    } catch (IOException | RuntimeException e) {
      // unknown: say what an administrator can do
    }
    return new ModelCacheException(ModelCacheException.Kind.DENIED, "permission denied on the control socket " + socket
        + (group != null
            ? ": members of group " + group + " may use it (ask an administrator to add you, then log in again)"
            : ": only root may use it (an administrator can open it to a group with control.group in the daemon's config)"));
  }

  private ModelCacheException noDaemon(Path socket) {
    return new ModelCacheException(ModelCacheException.Kind.DAEMON,
        "no daemon is running (no control socket at " + socket + "); start one with 'modelcache daemon --home "
            + home + "' or 'systemctl start modelcache'");
  }
}
