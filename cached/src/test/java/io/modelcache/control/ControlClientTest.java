package io.modelcache.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ControlClientTest {
  @Test
  void answersAndErrorsCrossTheSocket(@TempDir Path home) throws Exception {
    try (ControlServer server = new ControlServer(home, (req, caller) -> {
      if (req.path("op").asText().equals("fail")) {
        throw new ModelCacheException(ModelCacheException.Kind.USAGE, "mountpoint /x is not empty");
      }
      return ControlClient.request("pong");
    })) {
      ControlClient c = new ControlClient(home);
      assertEquals("pong", c.call(ControlClient.request("ping")).path("op").asText());
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> c.call(ControlClient.request("fail")));
      assertEquals(ModelCacheException.Kind.USAGE, e.kind());
      assertEquals("mountpoint /x is not empty", e.getMessage());
    }
  }

  @Test
  void theServerKnowsWhoCallsAndLetsOnlyItsGroupIn(@TempDir Path home) throws Exception {
    long uid = new com.sun.security.auth.module.UnixSystem().getUid();
    try (ControlServer server = new ControlServer(home, (req, caller) -> ControlClient.request("who")
        .put("uid", caller.uid()).put("gid", caller.gid()).put("pid", caller.pid()))) {
      var r = new ControlClient(home).call(ControlClient.request("ping"));
      assertEquals(uid, r.path("uid").asLong());
      assertEquals(new com.sun.security.auth.module.UnixSystem().getGid(), r.path("gid").asLong());
      assertEquals(ProcessHandle.current().pid(), r.path("pid").asLong());
      assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
          java.nio.file.Files.getPosixFilePermissions(ControlServer.socketPath(home))));
    }
    Path probe = java.nio.file.Files.createFile(home.resolve("probe"));
    String group = ((java.nio.file.attribute.GroupPrincipal) java.nio.file.Files.getAttribute(probe, "posix:group")).getName();
    try (ControlServer server = new ControlServer(home, group, (req, caller) -> ControlClient.request("pong"))) {
      Path sock = ControlServer.socketPath(home);
      assertEquals("rw-rw----", java.nio.file.attribute.PosixFilePermissions.toString(java.nio.file.Files.getPosixFilePermissions(sock)));
      assertEquals(group, ((java.nio.file.attribute.GroupPrincipal) java.nio.file.Files.getAttribute(sock, "posix:group")).getName());
    }
  }

  @Test
  void permissionDeniedNamesTheGroupThatMayUseTheSocket(@TempDir Path home) throws Exception {
    Path sock = ControlServer.socketPath(home);
    java.nio.file.Files.createFile(sock);
    java.nio.file.Files.setPosixFilePermissions(sock, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw----"));
    String group = ((java.nio.file.attribute.GroupPrincipal) java.nio.file.Files.getAttribute(sock, "posix:group")).getName();
    ModelCacheException e = ControlClient.denied(sock, sock);
    assertEquals(ModelCacheException.Kind.DENIED, e.kind());
    String expected = group.equals("root")
        ? "permission denied on the control socket " + sock + ": only root may use it (an administrator can open it to a "
            + "group with control.group in the daemon's config)"
        : "permission denied on the control socket " + sock + ": members of group " + group
            + " may use it (ask an administrator to add you, then log in again)";
    assertEquals(expected, e.getMessage());
  }

  @Test
  void aHungDaemonTimesOutInOneLine(@TempDir Path home) throws Exception {
    Path sock = ControlServer.socketPath(home);
    try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      server.bind(UnixDomainSocketAddress.of(sock));
      Thread.ofVirtual().start(() -> {
        try (SocketChannel ignored = server.accept()) {
          Thread.sleep(10_000); // accepts, never answers
        } catch (Exception ignoredToo) {
          // closed by the test
        }
      });
      ModelCacheException e = assertThrows(ModelCacheException.class,
          () -> new ControlClient(home, Duration.ofMillis(300)).call(ControlClient.request("ls")));
      assertEquals(ModelCacheException.Kind.DAEMON, e.kind());
      assertEquals("daemon did not answer within 300 ms (control socket " + sock + ")", e.getMessage());
    }
  }

  @Test
  void noSocketMeansNoDaemon(@TempDir Path home) {
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> new ControlClient(home).call(ControlClient.request("ls")));
    assertEquals("no daemon is running (no control socket at " + home.resolve("modelcache.sock") + "); start one with "
        + "'modelcache daemon --home " + home + "' or 'systemctl start modelcache'", e.getMessage());
  }
}
