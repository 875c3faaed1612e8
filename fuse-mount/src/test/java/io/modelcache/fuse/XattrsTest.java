package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class XattrsTest {
  @Test
  void sizeProbeReturnsNeededLength() {
    assertEquals(71, Xattrs.result(71, 0));
  }

  @Test
  void tooSmallIsErange() {
    assertEquals(-34, Xattrs.result(71, 70));
    assertEquals(-34, Xattrs.result(2, 1));
  }

  @Test
  void bigEnoughReturnsLength() {
    assertEquals(71, Xattrs.result(71, 71));
    assertEquals(71, Xattrs.result(71, 65536));
    assertEquals(0, Xattrs.result(0, 0));
    assertEquals(0, Xattrs.result(0, 10));
  }

  @Test
  void missingIsEnodata() {
    assertEquals(-61, Xattrs.missing());
  }

  @Test
  void nameListIsSortedAndNulTerminated() {
    byte[] list = Xattrs.nameList(Map.of("user.b", new byte[1], "user.a", new byte[2]));
    assertArrayEquals("user.a\0user.b\0".getBytes(StandardCharsets.UTF_8), list);
    assertEquals(0, Xattrs.nameList(Map.of()).length);
  }
}
