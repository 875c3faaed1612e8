package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class HttpRangesTest {
  @Test
  void rangeHeaderIsInclusive() {
    assertEquals("bytes=0-0", HttpRanges.rangeHeader(0, 1));
    assertEquals("bytes=100-199", HttpRanges.rangeHeader(100, 100));
    assertEquals("bytes=5-", HttpRanges.rangeHeader(5, -1));
    assertEquals("bytes=4294967296-4294967305", HttpRanges.rangeHeader(1L << 32, 10));
    assertThrows(IllegalArgumentException.class, () -> HttpRanges.rangeHeader(-1, 5));
    assertThrows(IllegalArgumentException.class, () -> HttpRanges.rangeHeader(0, 0));
  }

  @Test
  void wholeBlob() {
    assertTrue(HttpRanges.isWhole(0, -1));
    assertFalse(HttpRanges.isWhole(0, 10));
    assertFalse(HttpRanges.isWhole(1, -1));
  }

  @Test
  void uploadContentRange() {
    assertEquals("0-16777215", HttpRanges.uploadContentRange(0, 16 << 20));
    assertEquals("16777216-16777315", HttpRanges.uploadContentRange(16 << 20, 100));
  }

  @Test
  void contentRangeStart() {
    assertEquals(100, HttpRanges.contentRangeStart("bytes 100-199/1000").getAsLong());
    assertEquals(0, HttpRanges.contentRangeStart("0-5").getAsLong());
    assertTrue(HttpRanges.contentRangeStart("bytes */1000").isEmpty());
    assertTrue(HttpRanges.contentRangeStart(null).isEmpty());
  }
}
