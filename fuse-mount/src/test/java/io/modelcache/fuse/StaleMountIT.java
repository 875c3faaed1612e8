package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** A serving process killed with SIGKILL leaves a stale mount; it is detected and cleared. */
class StaleMountIT {
  @TempDir Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"kernel", "jnr"})
  void staleMountAfterKillIsDetectedAndCleared(String transport) throws Exception {
    FuseTestSupport.assumeFuse();
    Path mp = Files.createDirectory(tmp.resolve("stale-" + transport)).toRealPath();
    Process child = ChildJvm.start(ChildJvm.MountAndWait.class, mp.toString(), transport);
    try {
      for (int i = 0; i < 600 && !FuseMount.isMountPoint(mp) && child.isAlive(); i++) {
        Thread.sleep(50);
      }
      assertTrue(FuseMount.isMountPoint(mp), "the child did not mount within 30 s");
      assertTrue(Files.exists(mp.resolve("README.md")));
      assertFalse(FuseMount.isStaleMount(mp));
    } finally {
      String device = device(mp);
      child.destroyForcibly(); // SIGKILL: no shutdown hook, no unmount
      if (!child.waitFor(10, TimeUnit.SECONDS) && device != null) {
        // A thread of the child caught inside a request to its own mount cannot finish dying (the
        // kernel waits for an answer only the child could give): abort the connection as an operator would.
        abort(device);
      }
      assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child did not die");
    }

    assertTrue(FuseMount.isMountPoint(mp));
    assertTrue(FuseMount.isStaleMount(mp));
    IOException e = assertThrows(IOException.class,
        () -> FuseTransport.named(transport).mount(mp, MemoryTree.sample(), FuseOptions.defaults()));
    assertEquals("cannot mount on " + mp + ": a stale FUSE mount is there (transport endpoint is not "
        + "connected); lazyUnmount it first", e.getMessage());

    FuseMount.lazyUnmount(mp);
    assertFalse(FuseMount.isMountPoint(mp));
    assertFalse(FuseMount.isStaleMount(mp));
    FuseMount.lazyUnmount(mp); // nothing mounted: a no-op

    try (Mounted again = FuseTransport.named(transport).mount(mp, MemoryTree.sample(), FuseOptions.defaults())) {
      assertTrue(Files.exists(mp.resolve("README.md")));
    }
    try (Stream<Path> s = Files.list(mp)) {
      assertEquals(0, s.count());
    }
  }

  /** The mount's device ("0:40") from mountinfo, or null. */
  private static String device(Path mp) throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      String[] f = l.split(" ");
      if (f.length > 4 && f[4].equals(mp.toString())) {
        return f[2];
      }
    }
    return null;
  }

  private static void abort(String device) throws Exception {
    Path conns = Path.of("/sys/fs/fuse/connections");
    if (!Files.exists(conns.resolve(device.substring(device.indexOf(':') + 1)))) {
      new ProcessBuilder("mount", "-t", "fusectl", "none", conns.toString()).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
    }
    Path abort = conns.resolve(device.substring(device.indexOf(':') + 1)).resolve("abort");
    if (Files.exists(abort)) {
      Files.writeString(abort, "1");
    }
  }
}
