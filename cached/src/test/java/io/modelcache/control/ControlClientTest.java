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
    try (ControlServer server = new ControlServer(home, req -> {
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
