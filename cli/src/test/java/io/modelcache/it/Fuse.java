package io.modelcache.it;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** Skips real-mount tests, loudly, on machines without a usable /dev/fuse. */
final class Fuse {
  private Fuse() {}

  static void assumeAvailable() {
    Path dev = Path.of("/dev/fuse");
    boolean ok = Files.exists(dev) && Files.isReadable(dev) && Files.isWritable(dev);
    if (!ok) {
      System.err.println("\n*** SKIPPING REAL FUSE MOUNT TESTS: /dev/fuse is missing or not accessible on this machine ***\n");
    }
    Assumptions.assumeTrue(ok, "/dev/fuse is missing or not accessible: real-mount tests skipped");
  }
}
