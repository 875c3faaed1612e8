package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When the pull reads its files back into the page cache, and that the read-back leaves them intact. */
class PageCacheFillTest {
  @TempDir
  Path tmp;

  @AfterEach
  void clearProperty() {
    System.clearProperty(PageCacheFill.PROPERTY);
  }

  @Test
  void autoFillsWhatFitsInHalfTheAvailableMemory() {
    long avail = PageCacheFill.memAvailable();
    assertTrue(avail > 0, "/proc/meminfo has MemAvailable");
    assertTrue(PageCacheFill.worthIt(avail / 2));
    assertFalse(PageCacheFill.worthIt(avail / 2 + 1));
  }

  @Test
  void thePropertyOverridesTheChoice() {
    System.setProperty(PageCacheFill.PROPERTY, "false");
    assertFalse(PageCacheFill.worthIt(1));
    System.setProperty(PageCacheFill.PROPERTY, "true");
    assertTrue(PageCacheFill.worthIt(Long.MAX_VALUE));
  }

  @Test
  void fillLeavesTheFileExactAndIgnoresAMissingOne() throws Exception {
    byte[] data = TestLayouts.pseudoRandom(11, 5_000_001);
    Path f = Files.write(tmp.resolve("f"), data);
    PageCacheFill.fill(f);
    assertArrayEquals(data, Files.readAllBytes(f));
    PageCacheFill.fill(tmp.resolve("missing")); // no exception: best effort
  }
}
