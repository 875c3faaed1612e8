package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** When the pull bypasses the page cache. */
class DirectFileTest {
  @AfterEach
  void clearProperty() {
    System.clearProperty(DirectFile.PROPERTY);
  }

  @Test
  void onlyAModelBiggerThanHalfTheAvailableMemoryBypassesThePageCache() {
    long avail = 24L << 30;
    assertFalse(DirectFile.worthIt(avail / 2, avail));
    assertTrue(DirectFile.worthIt(avail / 2 + 1, avail));
    assertFalse(DirectFile.worthIt(Long.MAX_VALUE, 0), "MemAvailable unknown: through the page cache");
  }

  @Test
  void thePropertyOverridesTheChoice() {
    System.setProperty(DirectFile.PROPERTY, "true");
    assertTrue(DirectFile.worthIt(1));
    System.setProperty(DirectFile.PROPERTY, "false");
    assertFalse(DirectFile.worthIt(Long.MAX_VALUE));
  }
}
