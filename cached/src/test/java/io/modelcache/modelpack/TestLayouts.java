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

/** Test helpers: the shared fixtures directory, layouts built from JSON, file hashing. */
final class TestLayouts {
  static final ObjectMapper JSON = new ObjectMapper();

  private TestLayouts() {}

  static Path shared() {
    String p = System.getProperty("modelcache.shared.dir");
    if (p != null && Files.isDirectory(Path.of(p))) {
      return Path.of(p);
    }
    for (Path c : new Path[] {Path.of("../shared"), Path.of("../../shared")}) {
      if (Files.isDirectory(c.resolve("fixtures"))) {
        return c;
      }
    }
    throw new IllegalStateException("shared dir not found; set -Dmodelcache.shared.dir");
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
