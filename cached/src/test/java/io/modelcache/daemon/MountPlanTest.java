package io.modelcache.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MountPlanTest {
  static DeclaredMount d(String file, String ref, String mp) {
    return new DeclaredMount(file, ref, Path.of(mp), null);
  }

  @Test
  void addsRemovesAndReplaces() {
    DeclaredMount a = d("a.yaml", "r/a:v1", "/m/a");
    DeclaredMount b = d("b.yaml", "r/b:v1", "/m/b");
    DeclaredMount b2 = d("b.yaml", "r/b:v2", "/m/b");
    DeclaredMount c = d("c.yaml", "r/c:v1", "/m/c");
    MountPlan p = MountPlan.between(Map.of(a.mountpoint(), a, b.mountpoint(), b), Map.of(b.mountpoint(), b2, c.mountpoint(), c));
    assertEquals(List.of(a, b).stream().map(DeclaredMount::mountpoint).sorted().toList(),
        p.unmount().stream().map(DeclaredMount::mountpoint).sorted().toList());
    assertEquals(List.of(b2, c).stream().map(DeclaredMount::reference).sorted().toList(),
        p.mount().stream().map(DeclaredMount::reference).sorted().toList());
    assertTrue(MountPlan.between(Map.of(a.mountpoint(), a), Map.of(a.mountpoint(), d("renamed.yaml", "r/a:v1", "/m/a"))).isEmpty());
  }

  @Test
  void parsesFilesAndNamesBadKeys() throws Exception {
    DeclaredMount m = DeclaredMount.parse("llama.yaml", "reference: reg.local/models/llama:v1\nmountpoint: /models/llama/\nplainHttp: true\n");
    assertEquals(new DeclaredMount("llama.yaml", "reg.local/models/llama:v1", Path.of("/models/llama"), true), m);
    assertEquals("llama.yaml line 2: mountpont: unknown key (expected reference, mountpoint, plainHttp)",
        assertThrows(ModelCacheException.class, () -> DeclaredMount.parse("llama.yaml", "reference: x/y:z\nmountpont: /m\n")).getMessage());
    assertEquals("llama.yaml: 'mountpoint' must be an absolute path",
        assertThrows(ModelCacheException.class, () -> DeclaredMount.parse("llama.yaml", "reference: x/y:z\nmountpoint: rel\n")).getMessage());
  }
}
