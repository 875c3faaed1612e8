package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.kernel.InitConfig;
import io.modelcache.fuse.kernel.Negotiated;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel's FUSE request timeout, asked for in INIT, firing on a real mount (issue 13: "nothing
 * waits forever ... where the kernel offers the FUSE request timeout, set it too"). A server that
 * has taken a READ and never answers it, as a hung daemon would, has its connection aborted by the
 * kernel once the request is older than the timeout: the reader gets an error (ENOTCONN) instead
 * of waiting forever, and the mountpoint is left stale for the next start to clean up. A READ
 * answered within the timeout, though slowly, is served as usual. The daemon asks for at least
 * 30 minutes (FuseSetup); this mount asks for {@value #TIMEOUT_SECONDS} s so that the test is short.
 */
@Timeout(120)
class RequestTimeoutKernelIT {
  static final int TIMEOUT_SECONDS = 10;
  /** The kernel checks for expired requests every min(timeout, 15 s) (FUSE_TIMEOUT_TIMER_FREQ). */
  static final int CHECK_PERIOD_SECONDS = Math.min(TIMEOUT_SECONDS, 15);

  @TempDir Path tmp;
  final CountDownLatch never = new CountDownLatch(1);
  Mounted mounted;
  Path mp;

  @AfterEach
  void cleanUp() throws Exception {
    never.countDown(); // lets the hung worker go, so that the mount's loop can end
    if (mounted != null) {
      mounted.close();
    }
    if (mp != null && FuseMount.isStaleMount(mp)) {
      FuseMount.lazyUnmount(mp);
    }
  }

  @Test
  void aReadNobodyAnswersEndsInAnErrorAfterTheTimeoutAndASlowAnswerDoesNot() throws Exception {
    FuseTestSupport.assumeFuse();
    byte[] slow = MemoryTree.randomBytes(11, 64 * 1024 + 3);
    MemoryTree tree = new MemoryTree()
        .file("/slow", slow.length, (offset, dst) -> {
          pause(1000); // answered, a tenth of the timeout late
          if (offset >= slow.length) {
            return 0;
          }
          int n = (int) Math.min(dst.remaining(), slow.length - offset);
          dst.put(slow, (int) offset, n);
          return n;
        })
        .file("/hung", 1 << 20, (offset, dst) -> {
          try {
            never.await(); // a daemon that took the request and will never answer it
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          throw new java.io.IOException("released at teardown");
        });
    mp = Files.createDirectory(tmp.resolve("mnt")).toRealPath();
    KernelTransport t = new KernelTransport(InitConfig.defaults().withRequestTimeoutSeconds(TIMEOUT_SECONDS), null);
    mounted = t.mount(mp, tree, FuseOptions.defaults().withFsName("request-timeout-test"));
    Negotiated n = mounted.connection().orElseThrow(() -> new AssertionError("no live connection")).negotiated();
    if ((n.taken() & FuseAbi.REQUEST_TIMEOUT) == 0) {
      String msg = "\n!!! SKIPPING: this kernel (FUSE 7." + n.kernelMinor() + ") does not offer FUSE_REQUEST_TIMEOUT (6.14+)\n";
      System.err.println(msg);
      Assumptions.assumeTrue(false, msg);
    }
    assertEquals(TIMEOUT_SECONDS, n.requestTimeoutSeconds(), n.toString());
    assertTrue(n.describe().contains("request timeout " + TIMEOUT_SECONDS + " s"), n.describe());

    assertArrayEquals(slow, Files.readAllBytes(mp.resolve("slow")), "a slow answer within the timeout is served");

    Process cat = new ProcessBuilder("cat", mp.resolve("hung").toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
    // The bound: the timeout, one check period of the kernel's timer, and 30 s of slack for a busy machine.
    boolean ended = cat.waitFor(TIMEOUT_SECONDS + CHECK_PERIOD_SECONDS + 30, TimeUnit.SECONDS);
    if (!ended) {
      cat.destroyForcibly();
    }
    assertTrue(ended, "the reader still waits for an answer nobody sends");
    String err = new String(cat.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(1, cat.exitValue(), err);
    // cat says it twice (the read, then the close): every line is that one.
    assertEquals(java.util.List.of("cat: " + mp.resolve("hung") + ": Transport endpoint is not connected"),
        err.lines().distinct().toList(), "the kernel aborted the connection: its requests end with ENOTCONN");
    assertTrue(FuseMount.isStaleMount(mp), "the aborted mount is left stale until it is cleaned up");
  }

  private static void pause(long millis) throws java.io.InterruptedIOException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted");
    }
  }
}
