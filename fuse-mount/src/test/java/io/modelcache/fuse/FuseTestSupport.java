package io.modelcache.fuse;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Assumptions;

final class FuseTestSupport {
  private FuseTestSupport() {}

  static String sha256(byte[] b) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Skips the calling test, loudly, when FUSE cannot be used here. */
  static void assumeFuse() {
    String why = null;
    if (!Files.exists(Path.of("/dev/fuse"))) {
      why = "/dev/fuse does not exist";
    } else {
      try (RandomAccessFile f = new RandomAccessFile("/dev/fuse", "rw")) {
        // openable
      } catch (Exception e) {
        why = "/dev/fuse cannot be opened: " + e.getMessage();
      }
    }
    if (why != null) {
      String msg = "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
          + "!!! SKIPPING FUSE INTEGRATION TESTS: " + why + "\n"
          + "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n";
      System.err.println(msg);
      Assumptions.assumeTrue(false, msg);
    }
  }
}
