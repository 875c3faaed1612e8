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
    AccessProfile p = new AccessProfile(D, 128, List.of(
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
        new ReadPlan.Segment("a/b c.safetensors", 0, 256, 0),
        new ReadPlan.Segment("a/b c.safetensors", 256, 384, 0),
        new ReadPlan.Segment("x", 896, 1024, 0),
        new ReadPlan.Segment("a/b c.safetensors", 384, 512, 0)), p.ranges(256));
  }

  @Test
  void importRejectsWhatIsNotAProfileWithOneLine() throws Exception {
    Path f = tmp.resolve("junk");
    Files.writeString(f, "hello\n");
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> AccessProfile.importFrom(f, tmp.resolve("p")));
    assertEquals(f + ": not a modelcache access profile (the first line is not 'modelcache-profile 1')", e.getMessage());
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
    Files.writeString(f, AccessProfile.MAGIC + "\nmanifest " + D + "\nchunk 4096\nnot-a-number\tx\n");
    e = assertThrows(ModelCacheException.class, () -> AccessProfile.read(f));
    assertEquals(f + ": malformed access profile: line 4: expected '<chunk index>\\t<file path>', got 'not-a-number\tx'",
        e.getMessage());
    assertThrows(ModelCacheException.class, () -> AccessProfile.exportTo(tmp, D, tmp.resolve("out")));
  }

  private static String bad(String text) {
    return assertThrows(ModelCacheException.class, () -> AccessProfile.parse("f", text)).getMessage();
  }

  @Test
  void parseSaysWhatIsWrong() {
    String head = AccessProfile.MAGIC + "\nmanifest " + D + "\nchunk 4096\n";
    assertEquals("f: empty file, not a modelcache access profile", bad(""));
    assertEquals("f: malformed access profile: the header must be 'modelcache-profile 1', 'manifest sha256:<hex>' and"
        + " 'chunk <bytes>' lines", bad(AccessProfile.MAGIC + "\n"));
    assertEquals("f: malformed access profile: line 2: invalid manifest digest 'sha256:beef' (expected sha256:<64 hex>)",
        bad(AccessProfile.MAGIC + "\nmanifest sha256:beef\nchunk 4096\n0\ta\n"));
    assertEquals("f: malformed access profile: line 3: invalid chunk size '0' (expected a power-of-two byte count)",
        bad(AccessProfile.MAGIC + "\nmanifest " + D + "\nchunk 0\n0\ta\n"));
    assertEquals("f: malformed access profile: line 3: invalid chunk size 'x' (expected a power-of-two byte count)",
        bad(AccessProfile.MAGIC + "\nmanifest " + D + "\nchunk x\n0\ta\n"));
    assertEquals("f: malformed access profile: line 3: invalid chunk size '3' (expected a power-of-two byte count)",
        bad(AccessProfile.MAGIC + "\nmanifest " + D + "\nchunk 3\n0\ta\n"));
    assertEquals("f: access profile has no entries", bad(head));
    assertEquals("f: malformed access profile: line 5: expected '<chunk index>\\t<file path>', got '-1\ta'",
        bad(head + "0\ta\n-1\ta\n"));
    assertEquals("f: malformed access profile: line 4: expected '<chunk index>\\t<file path>', got '3\t'", bad(head + "3\t\n"));
    assertEquals("f: malformed access profile: line 4: expected '<chunk index>\\t<file path>', got '3 a'", bad(head + "3 a\n"));
    assertEquals("f: malformed access profile: line 4: unsafe file path '../etc/passwd' ('..' segment)", bad(head + "3\t../etc/passwd\n"));
    assertEquals("f: malformed access profile: line 4: unsafe file path '/abs' (absolute path)", bad(head + "3\t/abs\n"));
  }

  @Test
  void parseAcceptsWindowsLineEndsTabsInPathsAndRoundTripsItsText() throws Exception {
    AccessProfile p = AccessProfile.parse("f",
        AccessProfile.MAGIC + "\r\nmanifest " + D + "\r\nchunk 65536\r\n2\ta\tb\r\n\r\n0\tc..d/e\r\n");
    assertEquals(new AccessProfile(D, 65536, List.of(new AccessProfile.Entry("a\tb", 2), new AccessProfile.Entry("c..d/e", 0))), p);
    assertEquals(p, AccessProfile.parse("g", p.toText()));
    assertEquals(2L * 65536, p.coveredBytes());
  }

  @Test
  void readNamesAMissingFileAndADirectory() {
    Path missing = tmp.resolve("nope.profile");
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> AccessProfile.read(missing));
    assertEquals(missing + ": no such file", e.getMessage());
    assertEquals(ModelCacheException.Kind.NOT_FOUND, e.kind());
    e = assertThrows(ModelCacheException.class, () -> AccessProfile.read(tmp));
    assertEquals(tmp + ": is a directory, not an access profile", e.getMessage());
  }

  @Test
  void rangesAreByteRangesWhateverTheReadersChunkSize() {
    // Learned with 256 KiB chunks: chunks 4 and 5 are bytes [1 MiB, 1.5 MiB), valid for any cache.
    AccessProfile p = new AccessProfile(D, 256 << 10, List.of(new AccessProfile.Entry("w", 4), new AccessProfile.Entry("w", 5)));
    assertEquals(List.of(new ReadPlan.Segment("w", 1 << 20, 3 << 19, 0)), p.ranges(32L << 20));
  }
}
