package io.modelcache.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
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
import java.nio.file.attribute.PosixFilePermissions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's control socket, {@code <home>/modelcache.sock}, mode 0660. One virtual thread per
 * connection; each connection carries one JSON request line and gets one JSON response line.
 * Handlers run concurrently; the {@link Handler} must be thread-safe.
 */
public final class ControlServer implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(ControlServer.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Handles one request; throws ModelCacheException for a clean one-line failure. */
  public interface Handler {
    ObjectNode handle(JsonNode request) throws Exception;
  }

  private final Path socket;
  private final ServerSocketChannel server;
  private final Thread acceptor;
  private volatile boolean closed;

  public static Path socketPath(Path home) {
    return home.resolve("modelcache.sock");
  }

  public ControlServer(Path home, Handler handler) throws IOException {
    this.socket = socketPath(home);
    Files.deleteIfExists(socket);
    server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
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
      try {
        resp = handler.handle(JSON.readTree(line));
        resp.put("ok", true);
      } catch (ModelCacheException e) {
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
