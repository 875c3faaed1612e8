package io.modelcache.handover;

import io.modelcache.os.Fds;
import io.modelcache.os.Sockets;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;

/**
 * sd_notify(3) without libsystemd: one datagram of {@code KEY=VALUE} lines to the socket named by
 * NOTIFY_SOCKET (a path, or {@code @name} in the abstract namespace), descriptors attached with
 * SCM_RIGHTS. Stateless: each message opens and closes its own socket, so it is thread-safe.
 */
public final class SdNotify {
  private final String socket;

  public SdNotify(String socket) {
    if (socket == null || socket.isEmpty() || !(socket.startsWith("/") || socket.startsWith("@"))) {
      throw new IllegalArgumentException("NOTIFY_SOCKET must be an absolute path or @name, got '" + socket + "'");
    }
    this.socket = socket;
  }

  /** The manager's socket from the environment, if there is one (vsock addresses are not supported). */
  public static Optional<SdNotify> fromEnvironment(Map<String, String> env) {
    String s = env.get("NOTIFY_SOCKET");
    if (s == null || !(s.startsWith("/") || s.startsWith("@"))) {
      return Optional.empty();
    }
    return Optional.of(new SdNotify(s));
  }

  public String socket() {
    return socket;
  }

  /** Sends {@code state} (newline-separated assignments) with {@code fds} attached. */
  public void notify(String state, int... fds) throws IOException {
    int fd = Sockets.datagram();
    try {
      Sockets.sendTo(fd, socket, state.getBytes(StandardCharsets.UTF_8), fds);
    } finally {
      Fds.closeQuietly(fd);
    }
  }

  /** The message that stores {@code fd} under {@code name}. */
  static String storeMessage(String name) {
    return "FDSTORE=1\nFDNAME=" + name + "\n";
  }

  /** The message that removes every stored descriptor named {@code name}. */
  static String removeMessage(String name) {
    return "FDSTOREREMOVE=1\nFDNAME=" + name + "\n";
  }
}
