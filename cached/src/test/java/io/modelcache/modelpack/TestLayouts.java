package io.modelcache.modelpack;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

/** Test helpers: the fixtures directory (test resources), layouts built from JSON, file hashing. */
final class TestLayouts {
  static final ObjectMapper JSON = new ObjectMapper();

  private TestLayouts() {}

  /** The directory holding {@code fixtures/} (test resources copied from the reference notes). */
  static Path shared() {
    try {
      java.net.URL u = TestLayouts.class.getResource("/fixtures/README.md");
      if (u == null) {
        throw new IllegalStateException("test resource /fixtures/README.md is missing from the class path");
      }
      return Path.of(u.toURI()).getParent().getParent();
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  static OciLayout layout(Path dir) throws IOException {
    return OciLayout.create(Reference.parse("oci:" + dir));
  }

  static Digest put(OciLayout l, byte[] blob) throws IOException {
    Digest d = Digest.of(blob);
    l.putBlob(d, blob.length, () -> new ByteArrayInputStream(blob));
    return d;
  }

  /** Stores {@code config} and a manifest pointing at it with the given layers; returns the tag. */
  static void manifest(OciLayout l, String tag, ObjectNode manifest, byte[] config) throws IOException {
    Digest cd = put(l, config);
    ObjectNode c = (ObjectNode) manifest.get("config");
    c.put("digest", cd.toString());
    c.put("size", config.length);
    l.putManifest(tag, JSON.writeValueAsBytes(manifest), manifest.path("mediaType").asText());
  }

  static byte[] pseudoRandom(long seed, int n) {
    byte[] b = new byte[n];
    new java.util.SplittableRandom(seed).nextBytes(b);
    return b;
  }

  static String sha256(Path f) throws IOException {
    java.security.MessageDigest md = Digest.sha256();
    try (var in = Files.newInputStream(f)) {
      byte[] buf = new byte[1 << 20];
      int r;
      while ((r = in.read(buf)) > 0) {
        md.update(buf, 0, r);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }
}
