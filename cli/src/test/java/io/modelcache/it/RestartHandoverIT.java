package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.FuseMount;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.RegistryHarness;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 13: a mount outlives the daemon. Four readers (sha256sum, cat, an mmap hash, a random pread
 * loop; each its own process) read a cold model through a slow link when the daemon is killed
 * (SIGKILL, or SIGTERM); a daemon started again on the same home takes the kept connection back
 * from the holder, rebuilds the tree at the pinned digest, sends FUSE_NOTIFY_RESEND and serves.
 * Every reader finishes with exact bytes and exit 0 (no SIGBUS, no EIO), on the same mount.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class RestartHandoverIT {
  @TempDir static Path tmp;
  RegistryHarness registry;
  SlowLink link;
  PushedModel model;

  @BeforeAll
  void setUp() throws Exception {
    Fuse.assumeAvailable();
    registry = RegistryHarness.start(tmp.resolve("registry"));
    model = PushedModel.push(registry, tmp.resolve("model"), "models/restart:v1",
        new SyntheticModel.Spec(64L << 20, 1, "BF16", 4, 13));
    link = new SlowLink(Integer.parseInt(registry.hostPort().substring(registry.hostPort().lastIndexOf(':') + 1)),
        16L << 20); // 64 MiB at 16 MiB/s: a cold read lasts about 4 s
  }

  @AfterAll
  void tearDown() throws Exception {
    if (link != null) {
      link.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"SIGKILL", "SIGTERM"})
  void readersFinishExactAcrossADaemonRestart(String signal) throws Exception {
    Path home = tmp.resolve("home-" + signal);
    Path mp = Files.createDirectories(tmp.resolve("mnt-" + signal));
    Path config = Files.writeString(Files.createDirectories(home).resolve("config.yaml"),
        "restart:\n  keepMounts: true\nreadAhead:\n  prefetch: false\n  backgroundFill: false\n");
    String ref = "127.0.0.1:" + link.port() + "/models/restart:v1";
    String shard = model.sha().keySet().stream().filter(n -> n.endsWith(".safetensors")).findFirst().orElseThrow();
    Path file = mp.resolve(shard);
    String sha = model.sha().get(shard);
    DaemonProcess d = new DaemonProcess(home, "--config", config.toString(), "--chunk-size", "256K");
    List<Process> readers = List.of();
    try {
      d.start();
      Cli.ok("mount", "--home", home.toString(), ref, mp.toString());
      long device = FuseMount.mountedDevice(mp);
      assertTrue(Cli.ok("status", "--home", home.toString()).out().contains("restart: stays mounted"),
          "status says the mount survives a restart");

      Process sum = new ProcessBuilder("sha256sum", file.toString()).start();
      Process cat = new ProcessBuilder("bash", "-c", "set -o pipefail; cat \"$0\" | sha256sum", file.toString()).start();
      Process mmap = ReaderChild.start(ReaderChild.MmapHash.class, file.toString());
      Process preads = ReaderChild.start(ReaderChild.Preads.class, file.toString(),
          model.source().resolve(shard).toString(), "100");
      readers = List.of(sum, cat, mmap, preads);
      Thread.sleep(1500); // under way: the link passes 16 MiB/s
      assertTrue(readers.stream().anyMatch(Process::isAlive), "the readers finished before the daemon was stopped");

      if (signal.equals("SIGKILL")) {
        d.kill();
      } else {
        d.stop();
      }
      assertEquals(device, FuseMount.mountedDevice(mp), "still mounted while no daemon runs");
      d.start();

      assertEquals(sha + "  " + file, finish(sum), "sha256sum");
      assertEquals(sha + "  -", finish(cat), "cat | sha256sum");
      assertEquals(sha, finish(mmap), "mmap hash (no SIGBUS)");
      assertEquals("preads 100/100 exact", finish(preads), "random preads (no EIO)");
      assertEquals(device, FuseMount.mountedDevice(mp), "the same mount: taken over, not remounted");
      assertTrue(d.log().contains("took over the live mount of " + ref + " at " + mp), d.log());

      Cli.ok("umount", "--home", home.toString(), mp.toString());
      assertEquals(-1, FuseMount.mountedDevice(mp), "umount is still the teardown");
      d.stop();
      Optional<ProcessHandle> holder = holderOf(home);
      if (holder.isPresent()) {
        holder.get().onExit().get(30, TimeUnit.SECONDS); // it holds nothing now: it exits
      }
    } finally {
      for (Process p : readers) {
        p.destroyForcibly();
      }
      d.kill();
      if (FuseMount.mountedDevice(mp) >= 0) {
        FuseMount.lazyUnmount(mp);
      }
      holderOf(home).ifPresent(ProcessHandle::destroyForcibly);
    }
  }

  /**
   * Nothing waits forever: with no daemon coming back, the holder aborts the connection after
   * restart.grace, the reader gets an error and exits, the holder exits, and the next start cleans
   * the mountpoint up and mounts again.
   */
  @org.junit.jupiter.api.Test
  void aDaemonThatDoesNotComeBackEndsTheMountAfterTheGrace() throws Exception {
    Path home = tmp.resolve("home-gone");
    Path mp = Files.createDirectories(tmp.resolve("mnt-gone"));
    Path config = Files.writeString(Files.createDirectories(home).resolve("config.yaml"),
        "restart:\n  keepMounts: true\n  grace: 3s\nreadAhead:\n  prefetch: false\n  backgroundFill: false\n");
    String ref = "127.0.0.1:" + link.port() + "/models/restart:v1";
    String shard = model.sha().keySet().stream().filter(n -> n.endsWith(".safetensors")).findFirst().orElseThrow();
    Path file = mp.resolve(shard);
    DaemonProcess d = new DaemonProcess(home, "--config", config.toString(), "--chunk-size", "256K");
    Process sum = null;
    try {
      d.start();
      Cli.ok("mount", "--home", home.toString(), ref, mp.toString());
      ProcessHandle holder = holderOf(home).orElseThrow(() -> new AssertionError("no holder"));
      sum = new ProcessBuilder("sha256sum", file.toString()).start();
      Thread.sleep(1000);
      assertTrue(sum.isAlive(), "the reader finished before the daemon died");
      d.kill();
      // Bounded: the grace (3 s) and the abort; the reader must not wait for a daemon that never comes.
      assertTrue(sum.waitFor(60, TimeUnit.SECONDS), "the reader still waits after the grace");
      String err = new String(sum.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(sum.exitValue() != 0 && err.contains(file.toString()), "the reader got an error: " + err);
      holder.onExit().get(30, TimeUnit.SECONDS);
      assertTrue(Files.readString(home.resolve("holder.log")).contains("within the grace period: aborting it"));

      d.start();
      assertEquals(model.sha().get(shard), LazyMountIT.sha256(file), "the next start remounted it");
      assertTrue(d.log().contains("stale"), "the aborted mountpoint was cleaned up:\n" + d.log());
      Cli.ok("umount", "--home", home.toString(), mp.toString());
      d.stop();
    } finally {
      if (sum != null) {
        sum.destroyForcibly();
      }
      d.kill();
      if (FuseMount.mountedDevice(mp) >= 0) {
        FuseMount.lazyUnmount(mp);
      }
      holderOf(home).ifPresent(ProcessHandle::destroyForcibly);
    }
  }

  private static String finish(Process p) throws Exception {
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "reader did not finish");
    assertEquals(0, p.exitValue(), "reader exit status; out: " + out + "; err: " + err);
    return out;
  }

  private static Optional<ProcessHandle> holderOf(Path home) {
    String sock = home.resolve("holder.sock").toString();
    return ProcessHandle.allProcesses().filter(p -> {
      try {
        return List.of(Files.readString(Path.of("/proc/" + p.pid() + "/cmdline")).split("\0")).contains(sock);
      } catch (java.io.IOException | RuntimeException e) {
        return false;
      }
    }).findFirst();
  }
}
