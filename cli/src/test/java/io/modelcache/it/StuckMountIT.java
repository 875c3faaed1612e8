package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mount whose registry accepts connections and never answers does not stall the daemon: while it
 * waits, ls and status answer and a second request for the same mountpoint is refused in one line;
 * the stuck mount itself ends with the registry's timeout, and the mountpoint is free again.
 */
class StuckMountIT {
  @TempDir Path tmp;

  @Test
  void otherRequestsAreAnsweredWhileAMountWaitsForASilentRegistry() throws Exception {
    Fuse.assumeAvailable();
    List<Socket> held = new ArrayList<>();
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
         DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--fetch-timeout", "3s").start()) {
      Thread.ofVirtual().start(() -> {
        while (!silent.isClosed()) {
          try {
            Socket s = silent.accept();
            synchronized (held) {
              held.add(s); // accepted, never answered
            }
          } catch (java.io.IOException e) {
            return;
          }
        }
      });
      String home = d.home.toString();
      Path mp = Files.createDirectories(tmp.resolve("mnt"));
      String ref = "127.0.0.1:" + silent.getLocalPort() + "/silent/model:v1";
      CompletableFuture<Cli.Result> stuck = CompletableFuture.supplyAsync(() -> {
        try {
          return Cli.run(300, "mount", "--home", home, ref, mp.toString());
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      });
      // The mount request is in the daemon once the registry saw its connection.
      for (int i = 0; i < 300; i++) {
        synchronized (held) {
          if (!held.isEmpty()) {
            break;
          }
        }
        Thread.sleep(100);
      }
      synchronized (held) {
        assertTrue(!held.isEmpty(), "the mount never reached the registry");
      }
      Cli.Result ls = Cli.run(60, "ls", "--home", home);
      assertEquals(0, ls.exit(), ls.err());
      Cli.Result status = Cli.run(60, "status", "--home", home);
      assertEquals(0, status.exit(), status.err());
      assertTrue(!stuck.isDone(), "ls and status were answered only after the stuck mount ended: " + stuck.getNow(null));
      Cli.Result again = Cli.run(60, "mount", "--home", home, ref, mp.toString());
      assertEquals(2, again.exit(), again.err());
      assertEquals("modelcache: mountpoint " + mp + " is being mounted by another request", again.err().strip());
      Cli.Result r = stuck.get(300, TimeUnit.SECONDS);
      assertEquals(5, r.exit(), r.err());
      assertTrue(r.err().startsWith("modelcache: ") && r.err().strip().lines().count() == 1, r.err());
      Cli.Result after = Cli.run(60, "ls", "--home", home);
      assertEquals(0, after.exit(), after.err());
      assertTrue(!after.out().contains(mp.toString()), after.out());
    } finally {
      synchronized (held) {
        for (Socket s : held) {
          s.close();
        }
      }
    }
  }
}
