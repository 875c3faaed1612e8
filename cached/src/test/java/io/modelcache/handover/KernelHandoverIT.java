package io.modelcache.handover;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.FuseMount;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real kernel-transport FUSE mount handed from one server process to another through the
 * holder: readers (sha256sum, cat, an mmap hash and a random pread loop, each its own process) are
 * in the middle of a slow file when the serving JVM is killed (SIGKILL, or SIGTERM which leaves the
 * mount); a second JVM takes the connection back, sends FUSE_NOTIFY_RESEND and serves; every reader
 * finishes with exact bytes and exit 0, and the mount was never remounted.
 */
@Timeout(120)
class KernelHandoverIT {
  @ParameterizedTest
  @ValueSource(strings = {"SIGKILL", "SIGTERM"})
  void readersFinishExactAcrossAServerHandover(String signal, @TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(Files.exists(Path.of("/dev/fuse")), "/dev/fuse is missing: kernel handover test SKIPPED");
    Assumptions.assumeTrue(((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0,
        "not root: the kernel transport mounts with mount(2); kernel handover test SKIPPED");
    Path home = Files.createDirectories(dir.resolve("home"));
    Path mp = Files.createDirectories(dir.resolve("mnt"));
    Path file = mp.resolve(KernelChild.FILE);
    String expected = KernelChild.expectedSha256();
    List<Process> all = new ArrayList<>();
    try {
      Process first = HandoverChild.start(KernelChild.Serve.class, home.toString(), mp.toString());
      all.add(first);
      awaitLine(first, new BufferedReader(new InputStreamReader(first.getInputStream(), StandardCharsets.UTF_8)), "READY");
      long device = ((Number) Files.getAttribute(mp, "unix:dev")).longValue();

      Process sha = new ProcessBuilder("sha256sum", file.toString()).start();
      Process cat = new ProcessBuilder("bash", "-c", "set -o pipefail; cat \"$0\" | sha256sum", file.toString()).start();
      Process mmap = HandoverChild.start(KernelChild.MmapHash.class, file.toString());
      Process preads = HandoverChild.start(KernelChild.Preads.class, file.toString(), "200");
      List<Process> readers = List.of(sha, cat, mmap, preads);
      all.addAll(readers);
      Thread.sleep(1500); // readers are under way: each 1 MiB request takes the first server 40 ms
      assertTrue(readers.stream().anyMatch(Process::isAlive), "the readers finished before the server died");

      if (signal.equals("SIGKILL")) {
        first.destroyForcibly();
      } else {
        first.destroy();
      }
      assertTrue(first.waitFor(30, TimeUnit.SECONDS));
      Process second = HandoverChild.start(KernelChild.Adopt.class, home.toString(), mp.toString());
      all.add(second);
      BufferedReader secondOut = new BufferedReader(new InputStreamReader(second.getInputStream(), StandardCharsets.UTF_8));
      awaitLine(second, secondOut, "SERVING");

      assertEquals(expected + "  " + file, finish(sha), "sha256sum");
      assertEquals(expected + "  -", finish(cat), "cat | sha256sum");
      assertEquals(expected, finish(mmap), "mmap hash (no SIGBUS)");
      assertEquals("preads 200/200 exact", finish(preads), "random preads (no EIO)");
      assertEquals(device, ((Number) Files.getAttribute(mp, "unix:dev")).longValue(), "the same mount, never remounted");

      second.getOutputStream().close();
      awaitLine(second, secondOut, "UNMOUNTED");
      assertTrue(second.waitFor(30, TimeUnit.SECONDS));
      assertEquals(0, second.exitValue());
      assertTrue(!FuseMount.isMountPoint(mp), "unmounted at the end");
    } finally {
      for (Process p : all) {
        p.destroyForcibly();
      }
      if (FuseMount.isMountPoint(mp) || FuseMount.isStaleMount(mp)) {
        FuseMount.lazyUnmount(mp);
      }
    }
  }

  /**
   * A server killed between recording an open and replying to it (issue 13): the open log says the
   * kernel holds a passthrough handle it never got. The reader's OPEN is still waiting in the
   * kernel; the next server pins the file again from the log, sends FUSE_NOTIFY_RESEND, and answers
   * the resent OPEN with the recorded handle and backing id. The reader finishes with exact bytes
   * and exit 0, and once it has closed the file no record is left (a phantom record would pin the
   * file and hold its mode until the mount ends).
   */
  @org.junit.jupiter.api.Test
  void aServerKilledBetweenRecordingAnOpenAndReplyingLeavesNoPhantomOpen(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(Files.exists(Path.of("/dev/fuse")), "/dev/fuse is missing: kernel handover test SKIPPED");
    Assumptions.assumeTrue(((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0,
        "not root: the kernel transport mounts with mount(2) and passthrough needs CAP_SYS_ADMIN; test SKIPPED");
    Path home = Files.createDirectories(dir.resolve("home"));
    Path mp = Files.createDirectories(dir.resolve("mnt"));
    Path backing = dir.resolve("backing.bin");
    byte[] bytes = new byte[(8 << 20) + 4097];
    new java.util.Random(21).nextBytes(bytes);
    Files.write(backing, bytes);
    String expected = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    Path log = dir.resolve("opens.log");
    Path file = mp.resolve(ResendChild.FILE);
    List<Process> all = new ArrayList<>();
    try {
      Process first = HandoverChild.start(ResendChild.ServeAndDie.class, home.toString(), mp.toString(), backing.toString(),
          log.toString());
      all.add(first);
      BufferedReader firstOut = new BufferedReader(new InputStreamReader(first.getInputStream(), StandardCharsets.UTF_8));
      awaitLine(first, firstOut, "READY");
      Process sha = new ProcessBuilder("sha256sum", file.toString()).start();
      all.add(sha);
      awaitLine(first, firstOut, "RECORDED");
      assertTrue(first.waitFor(30, TimeUnit.SECONDS), "the first server died at the open");
      List<io.modelcache.fuse.OpenLog.Entry> phantom = io.modelcache.fuse.OpenLog.parse(Files.readAllLines(log)).open();
      assertEquals(1, phantom.size(), "the open was recorded: " + Files.readAllLines(log));
      assertTrue(phantom.get(0).passthrough() && phantom.get(0).unique() != 0, phantom.toString());
      assertTrue(sha.isAlive(), "the reader's open waits for an answer");

      Process second = HandoverChild.start(ResendChild.Adopt.class, home.toString(), mp.toString(), backing.toString(),
          log.toString());
      all.add(second);
      BufferedReader secondOut = new BufferedReader(new InputStreamReader(second.getInputStream(), StandardCharsets.UTF_8));
      awaitLine(second, secondOut, "SERVING");
      assertEquals(expected + "  " + file, finish(sha), "sha256sum across the death at its open");

      List<io.modelcache.fuse.OpenLog.Entry> open = List.of(phantom.get(0));
      for (int i = 0; i < 100 && !open.isEmpty(); i++) { // the RELEASE follows the reader's close by a moment
        Thread.sleep(100);
        open = io.modelcache.fuse.OpenLog.parse(Files.readAllLines(log)).open();
      }
      assertEquals(List.of(), open, "no record outlives its open");
      second.getOutputStream().close();
      awaitLine(second, secondOut, "PASSTHROUGH_OPENS 1");
      awaitLine(second, secondOut, "UNMOUNTED");
      assertTrue(second.waitFor(30, TimeUnit.SECONDS));
      assertEquals(0, second.exitValue());
    } finally {
      for (Process p : all) {
        p.destroyForcibly();
      }
      if (FuseMount.isMountPoint(mp) || FuseMount.isStaleMount(mp)) {
        FuseMount.lazyUnmount(mp);
      }
    }
  }

  private static String finish(Process p) throws Exception {
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "reader did not finish");
    assertEquals(0, p.exitValue(), "reader exit status; output: " + out);
    return out;
  }

  private static void awaitLine(Process p, BufferedReader out, String want) throws Exception {
    for (String line; (line = out.readLine()) != null; ) {
      if (line.equals(want)) {
        return;
      }
    }
    throw new AssertionError("child exited " + p.waitFor() + " before saying " + want);
  }
}
