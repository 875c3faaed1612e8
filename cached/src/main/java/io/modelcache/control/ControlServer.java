package io.modelcache.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.access.Caller;
import io.modelcache.access.ProcStatus;
import io.modelcache.error.ModelCacheException;
import io.modelcache.os.Libc;
import io.modelcache.os.PeerCredentials;
import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's control socket, {@code <home>/modelcache.sock}: {@code rw-------} root's, or
 * {@code rw-rw----} root:GROUP when a control group is given. One virtual thread per connection;
 * each connection carries one JSON request line and gets one JSON response line. Every request is
 * handed the {@link Caller} the kernel vouches for (SO_PEERCRED, groups from /proc/PID/status), and
 * every refusal ({@code DENIED}) is logged with the caller's uid and pid. Handlers run concurrently;
 * the {@link Handler} must be thread-safe.
 */
public final class ControlServer implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(ControlServer.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Handles one request; throws ModelCacheException for a clean one-line failure. */
  public interface Handler {
    ObjectNode handle(JsonNode request, Caller caller) throws Exception;
  }

  private final Path socket;
  private final ServerSocketChannel server;
  private final Thread acceptor;
  private volatile boolean closed;

  public static Path socketPath(Path home) {
    return home.resolve("modelcache.sock");
  }

  /** A socket only its owner (root, for the daemon) may use. */
  public ControlServer(Path home, Handler handler) throws IOException {
    this(home, null, handler);
  }

  /** A socket for its owner and, when {@code group} is not null, that group's members. */
  public ControlServer(Path home, String group, Handler handler) throws IOException {
    this.socket = socketPath(home);
    Files.deleteIfExists(socket);
    server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    if (group == null) {
      Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
    } else {
      var principal = socket.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
      Files.getFileAttributeView(socket, PosixFileAttributeView.class).setGroup(principal);
      Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
    }
    acceptor = Thread.ofPlatform().name("control-accept").daemon(true).start(() -> acceptLoop(handler));
  }

  private void acceptLoop(Handler handler) {
    while (!closed) {
      try {
        SocketChannel ch = server.accept();
        Thread.ofVirtual().name("control-conn").start(() -> serve(ch, handler));
      } catch (IOException e) {
        if (!closed) {
          LOG.warn("control socket accept failed: {}", e.toString());
        }
      }
    }
  }

  private void serve(SocketChannel ch, Handler handler) {
    try (ch) {
      BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
      String line = in.readLine();
      if (line == null) {
        return;
      }
      ObjectNode resp;
      Caller caller = null;
      try {
        caller = caller(ch);
        resp = handler.handle(JSON.readTree(line), caller);
        resp.put("ok", true);
      } catch (ModelCacheException e) {
        if (e.kind() == ModelCacheException.Kind.DENIED) {
          LOG.warn("refused {} for {}: {}", opOf(line), caller == null ? "an unidentified caller" : caller.describe(),
              e.getMessage());
        }
        resp = JSON.createObjectNode().put("ok", false).put("kind", e.kind().name()).put("error", e.getMessage());
      } catch (Throwable e) {
        // Nothing escapes a connection, not even an Error (an UnsatisfiedLinkError from a missing
        // native library): the client always gets an answer and the daemon keeps serving.
        LOG.error("control request {} failed: {}", opOf(line), e.toString());
        resp = JSON.createObjectNode().put("ok", false).put("kind", "IO").put("error", "internal error: " + e);
      }
      OutputStream out = Channels.newOutputStream(ch);
      out.write(JSON.writeValueAsBytes(resp));
      out.write('\n');
      out.flush();
    } catch (IOException e) {
      LOG.debug("control connection failed: {}", e.toString());
    }
  }

  /**
   * Who is on the other end, as the kernel recorded it at connect time. The supplementary groups
   * come from /proc/PID/status while the caller waits for its answer (so the pid is still its own;
   * {@link ProcStatus} also checks the uid). A caller that cannot be identified is refused.
   */
  static Caller caller(SocketChannel ch) throws ModelCacheException {
    PeerCredentials p;
    try {
      p = Libc.peerCredentials(ch);
    } catch (IOException | RuntimeException | LinkageError e) {
      throw new ModelCacheException(ModelCacheException.Kind.DENIED, "cannot identify the caller: " + e.getMessage());
    }
    Set<Integer> groups;
    try {
      groups = ProcStatus.groups(Files.readString(Path.of("/proc/" + p.pid() + "/status")), p.uid());
    } catch (IOException | RuntimeException e) {
      groups = Set.of(); // only the primary group counts then
    }
    return new Caller(p.pid(), p.uid(), p.gid(), groups);
  }

  private static String opOf(String line) {
    try {
      return JSON.readTree(line).path("op").asText("?");
    } catch (IOException | RuntimeException e) {
      return "?";
    }
  }

  @Override
  public void close() throws IOException {
    closed = true;
    server.close();
    Files.deleteIfExists(socket);
  }
}
