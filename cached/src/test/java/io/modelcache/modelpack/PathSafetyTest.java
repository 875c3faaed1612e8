package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import org.junit.jupiter.api.Test;

class PathSafetyTest {
  @Test
  void cases() {
    assertNull(PathSafety.problem("config.json"));
    assertNull(PathSafety.problem("a/b/c.safetensors"));
    assertNull(PathSafety.problem("a\\b"));
    assertNull(PathSafety.problem("..a/b.."));
    assertEquals("absolute path", PathSafety.problem("/etc/passwd"));
    assertEquals("'..' segment", PathSafety.problem("../../etc/passwd"));
    assertEquals("'..' segment", PathSafety.problem("a/../b"));
    assertEquals("empty segment", PathSafety.problem("a//b"));
    assertEquals("empty segment", PathSafety.problem("a/"));
    assertEquals("'.' segment", PathSafety.problem("./a"));
    assertEquals("NUL character", PathSafety.problem("a\0b"));
    assertEquals("empty path", PathSafety.problem(""));
  }

  @Test
  void message() {
    ModelCacheException e = assertThrows(ModelCacheException.class,
        () -> PathSafety.check("oci:/m:v1: layer 0123456789ab", "../../etc/passwd"));
    assertEquals(ModelCacheException.Kind.UNSAFE_PATH, e.kind());
    assertEquals("oci:/m:v1: layer 0123456789ab: unsafe file path '../../etc/passwd' ('..' segment)", e.getMessage());
  }
}
