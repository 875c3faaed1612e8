package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mount whose registry accepts connections and never answers does not stall the daemon: while it
 * waits, ls and status answer and a second request for the same mountpoint is refused in one line;
 * the stuck mount itself ends with the registry's timeout, and the mountpoint is free again. The
 * same holds for a mount that a mounts.d file declares.
 */
class StuckMountIT {
  @TempDir Path tmp;
  private ServerSocket silent;
  private final List<Socket> held = new ArrayList<>();

  @BeforeEach
  void silentRegistry() throws Exception {
    silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
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
  }

  @AfterEach
  void closeRegistry() throws Exception {
    silent.close();
    synchronized (held) {
      for (Socket s : held) {
        s.close();
      }
    }
  }

  private String silentRef() {
    return "127.0.0.1:" + silent.getLocalPort() + "/silent/model:v1";
  }

  /** Waits (bounded) until the silent registry saw a connection: a mount is then in the daemon. */
  private void awaitRegistryConnection() throws InterruptedException {
    for (int i = 0; i < 300; i++) {
      synchronized (held) {
        if (!held.isEmpty()) {
          return;
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the mount never reached the registry");
  }

  @Test
  void otherRequestsAreAnsweredWhileAMountWaitsForASilentRegistry() throws Exception {
    Fuse.assumeAvailable();
    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--fetch-timeout", "3s").start()) {
      String home = d.home.toString();
      Path mp = Files.createDirectories(tmp.resolve("mnt"));
      String ref = silentRef();
      CompletableFuture<Cli.Result> stuck = CompletableFuture.supplyAsync(() -> {
        try {
          return Cli.run(300, "mount", "--home", home, ref, mp.toString());
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      });
      awaitRegistryConnection();
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
    }
  }

  /**
   * A declared mount waiting for a silent registry leaves ls, status and mounts by hand answered,
   * and its mountpoint reserved; a declared reference that does not parse is reported with its file
   * and creates no mountpoint.
   */
  @Test
  void aDeclaredMountWaitingForASilentRegistryDoesNotStallTheDaemon() throws Exception {
    Fuse.assumeAvailable();
    Path homeDir = tmp.resolve("home-decl");
    Path decl = Files.createDirectories(homeDir.resolve("mounts.d"));
    Path stuckMp = tmp.resolve("declared/stuck");
    Path badMp = tmp.resolve("declared/bad");
    Files.writeString(decl.resolve("stuck.yaml"), "reference: " + silentRef() + "\nmountpoint: " + stuckMp + "\n");
    Path bad = decl.resolve("bad.yaml");
    Files.writeString(bad, "reference: \"Not A Reference!\"\nmountpoint: " + badMp + "\n");
    try (DaemonProcess d = new DaemonProcess(homeDir, "--fetch-timeout", "5s").start()) {
      String home = d.home.toString();
      awaitRegistryConnection();
      Cli.Result ls = Cli.run(60, "ls", "--home", home);
      assertEquals(0, ls.exit(), ls.err());
      Cli.Result status = Cli.run(60, "status", "--home", home);
      assertEquals(0, status.exit(), status.err());
      Cli.Result byHand = Cli.run(60, "mount", "--home", home, silentRef(), stuckMp.toString());
      assertEquals(2, byHand.exit(), byHand.err());
      assertEquals("modelcache: mountpoint " + stuckMp + " is being mounted by another request", byHand.errLine());
      assertFalse(d.log().contains("cannot mount " + silentRef()),
          "the declared mount ended before ls and status were answered:\n" + d.log());
      assertTrue(d.log().contains(bad + ": cannot mount Not A Reference! at " + badMp + ": "), d.log());
      assertFalse(Files.exists(badMp), "a reference that does not parse created its mountpoint");
    }
  }
}
