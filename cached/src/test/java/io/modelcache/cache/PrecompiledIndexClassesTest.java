package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URL;
import java.nio.file.Path;
import java.security.CodeSource;
import net.openhft.chronicle.hash.VanillaGlobalMutableState;
import net.openhft.chronicle.values.Values;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cache index's Chronicle Map finds its header-state class compiled by the build
 * (src/build/ChronicleNativeClasses.java), so no daemon runs javac when it opens its cache. A class
 * chronicle-values compiles at run time is defined from memory, with no code source location; the
 * build's comes from the module's classes or the jar.
 */
class PrecompiledIndexClassesTest {
  @TempDir Path dir;

  @Test
  void theIndexUsesTheHeaderStateClassTheBuildCompiled() throws IOException {
    try (CacheIndex index = CacheIndex.open(dir.resolve("index.dat"), 1_000, false)) {
      assertNotNull(index);
    }
    Class<?> used = Values.nativeClassFor(VanillaGlobalMutableState.class);
    assertEquals(VanillaGlobalMutableState.class.getName() + "$$Native", used.getName());
    CodeSource source = used.getProtectionDomain().getCodeSource();
    URL location = source == null ? null : source.getLocation();
    assertNotNull(location, used + " was compiled at run time, not by the build");
    String where = location.toString();
    assertTrue(where.endsWith("/classes/") || where.endsWith(".jar"), where);
  }
}
