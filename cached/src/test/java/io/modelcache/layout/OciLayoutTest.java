package io.modelcache.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OciLayoutTest {
  @TempDir Path tmp;

  private Reference ref(Path p) throws Exception {
    return Reference.parse("oci:" + p);
  }

  @Test
  void openMissingLayoutIsNotFound() throws Exception {
    Path p = tmp.resolve("nope");
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> OciLayout.open(ref(p)));
    assertEquals(ModelCacheException.Kind.NOT_FOUND, e.kind());
    assertEquals("oci:" + p + ": not an OCI image layout (no oci-layout file)", e.getMessage());
  }

  @Test
  void blobsAndManifestsRoundTrip() throws Exception {
    Path p = tmp.resolve("l");
    try (OciLayout w = OciLayout.create(ref(p))) {
      assertEquals("{\"imageLayoutVersion\":\"1.0.0\"}", Files.readString(p.resolve("oci-layout")));
      byte[] blob = "hello world".getBytes(StandardCharsets.UTF_8);
      Digest d = Digest.of(blob);
      assertFalse(w.hasBlob(d));
      w.putBlob(d, blob.length, () -> new ByteArrayInputStream(blob));
      assertTrue(w.hasBlob(d));
      assertArrayEquals(blob, w.fetchBlob(d, 100));
      try (InputStream in = w.openBlob(d, 6, 5)) {
        assertEquals("world", new String(in.readAllBytes(), StandardCharsets.UTF_8));
      }
      try (InputStream in = w.openBlob(d, 6, -1)) {
        assertEquals("world", new String(in.readAllBytes(), StandardCharsets.UTF_8));
      }
      byte[] m1 = "{\"schemaVersion\":2,\"n\":1}".getBytes(StandardCharsets.UTF_8);
      byte[] m2 = "{\"schemaVersion\":2,\"n\":2}".getBytes(StandardCharsets.UTF_8);
      Digest d1 = w.putManifest("v1", m1, MediaTypes.OCI_MANIFEST);
      w.putManifest("v2", m1, MediaTypes.OCI_MANIFEST);
      Digest d2 = w.putManifest("v1", m2, MediaTypes.OCI_MANIFEST);
      OciLayout r = OciLayout.open(ref(p));
      FetchedManifest f = r.fetchManifest("v1");
      assertArrayEquals(m2, f.bytes());
      assertEquals(d2, f.digest());
      assertEquals(MediaTypes.OCI_MANIFEST, f.mediaType());
      assertArrayEquals(m1, r.fetchManifest("v2").bytes());
      assertArrayEquals(m1, r.fetchManifest(d1.toString()).bytes());
      String index = Files.readString(p.resolve("index.json"));
      assertEquals(2, index.split("org.opencontainers.image.ref.name").length - 1, index);
    }
  }

  @Test
  void errorsNameTheLayoutAndThing() throws Exception {
    Path p = tmp.resolve("l");
    OciLayout w = OciLayout.create(ref(p));
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> w.fetchManifest("nope"));
    assertEquals("oci:" + p + ": manifest 'nope' not found", e.getMessage());
    assertEquals(ModelCacheException.Kind.NOT_FOUND, e.kind());
    Digest d = Digest.of(new byte[] {1});
    e = assertThrows(ModelCacheException.class, () -> w.openBlob(d, 0, -1));
    assertEquals("oci:" + p + ": blob " + d + " not found", e.getMessage());
    e = assertThrows(ModelCacheException.class, () -> w.fetchBlob(d, 10));
    assertEquals(ModelCacheException.Kind.NOT_FOUND, e.kind());
    e = assertThrows(ModelCacheException.class,
        () -> w.putBlob(d, 1, () -> new ByteArrayInputStream(new byte[] {2})));
    assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
    assertFalse(w.hasBlob(d));
    try (var s = Files.list(p.resolve("blobs/sha256"))) {
      assertEquals(0, s.count(), "no temp files left");
    }
    // a corrupted blob on disk is caught by fetchBlob
    byte[] good = {7, 7};
    Digest gd = Digest.of(good);
    w.putBlob(gd, 2, () -> new ByteArrayInputStream(good));
    Files.write(w.blobPath(gd), new byte[] {7, 8});
    e = assertThrows(ModelCacheException.class, () -> w.fetchBlob(gd, 10));
    assertEquals("oci:" + p + ": blob " + gd + " failed verification (got " + Digest.of(new byte[] {7, 8}) + ")",
        e.getMessage());
  }

  @Test
  void concurrentTagsAllLand() throws Exception {
    Path p = tmp.resolve("l");
    OciLayout w = OciLayout.create(ref(p));
    OciLayout w2 = OciLayout.open(ref(p)); // a second instance on the same directory
    ExecutorService ex = Executors.newFixedThreadPool(4);
    try {
      List<Future<Digest>> fs = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        int n = i;
        fs.add(ex.submit(() -> (n % 2 == 0 ? w : w2).putManifest("t" + n, ("{\"n\":" + n + "}").getBytes(StandardCharsets.UTF_8),
            MediaTypes.OCI_MANIFEST)));
      }
      for (Future<Digest> f : fs) {
        f.get();
      }
    } finally {
      ex.shutdownNow();
    }
    for (int i = 0; i < 20; i++) {
      assertEquals("{\"n\":" + i + "}", new String(w.fetchManifest("t" + i).bytes(), StandardCharsets.UTF_8));
    }
  }
}
