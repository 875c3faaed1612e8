package io.modelcache.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AccessProfileTest {
  static final Digest D = Digest.of(new byte[] {1});
  @TempDir Path tmp;

  @Test
  void roundTripsAndMergesAdjacentChunksIntoRanges() throws Exception {
    AccessProfile p = new AccessProfile(D, 100, List.of(
        new AccessProfile.Entry("a/b c.safetensors", 0),
        new AccessProfile.Entry("a/b c.safetensors", 1),
        new AccessProfile.Entry("a/b c.safetensors", 2),
        new AccessProfile.Entry("x", 7),
        new AccessProfile.Entry("a/b c.safetensors", 3)));
    Path f = AccessProfile.pathFor(tmp, D);
    p.write(f);
    assertEquals(D.hex() + ".profile", f.getFileName().toString());
    assertEquals(p, AccessProfile.read(f));
    assertEquals(List.of(
        new ReadPlan.Segment("a/b c.safetensors", 0, 200, 0),
        new ReadPlan.Segment("a/b c.safetensors", 200, 300, 0),
        new ReadPlan.Segment("x", 700, 800, 0),
        new ReadPlan.Segment("a/b c.safetensors", 300, 400, 0)), p.ranges(200));
  }

  @Test
  void importRejectsWhatIsNotAProfileWithOneLine() throws Exception {
    Path f = tmp.resolve("junk");
    Files.writeString(f, "hello\n");
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> AccessProfile.importFrom(f, tmp.resolve("p")));
    assertEquals(f + ": not a modelcache access profile", e.getMessage());
    Files.writeString(f, AccessProfile.MAGIC + "\nmanifest " + D + "\nchunk 4096\nnot-a-number\tx\n");
    e = assertThrows(ModelCacheException.class, () -> AccessProfile.read(f));
    assertEquals(f + ": malformed access profile (For input string: \"not-a-number\")", e.getMessage());
    assertThrows(ModelCacheException.class, () -> AccessProfile.exportTo(tmp, D, tmp.resolve("out")));
  }
}
