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
