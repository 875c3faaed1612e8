package io.modelcache.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Layers that cannot be range-read still mount: a tar+gzip ORAS directory (made by GNU tar), a
 * tar+zstd weight, and a tar weight, next to a raw one. Every file reads exactly through the mount.
 */
class CompressedMountIT {
  static final ObjectMapper JSON = new ObjectMapper();

  static byte[] random(long seed, int n) {
    byte[] b = new byte[n];
    new SplittableRandom(seed).nextBytes(b);
    return b;
  }

  static void sh(Path dir, String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", cmd) + ": " + out);
  }

  static Digest put(OciLayout l, byte[] blob) throws Exception {
    Digest d = Digest.of(blob);
    l.putBlob(d, blob.length, () -> new ByteArrayInputStream(blob));
    return d;
  }

  static ObjectNode layer(ArrayNode layers, String mediaType, Digest d, long size) {
    ObjectNode o = layers.addObject().put("mediaType", mediaType).put("digest", d.toString()).put("size", size);
    return o.putObject("annotations");
  }

  @Test
  void compressedAndTarLayersReadExactlyThroughTheMount(@TempDir Path tmp) throws Exception {
    Fuse.assumeAvailable();
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.createDirectories(src.resolve("tokenizer/sub"));
    Map<String, byte[]> expected = new TreeMap<>();
    expected.put("tokenizer/vocab.json", random(1, 3 << 20));
    expected.put("tokenizer/sub/merges.txt", "a b\nc d\n".getBytes(StandardCharsets.UTF_8));
    expected.put("zstd/w.bin", random(2, 9 << 20));
    expected.put("tar/w.bin", random(3, (5 << 20) + 123));
    expected.put("raw.bin", random(4, (2 << 20) + 7));
    for (String p : new String[] {"tokenizer/vocab.json", "tokenizer/sub/merges.txt"}) {
      Files.write(src.resolve(p), expected.get(p));
    }
    Files.write(src.resolve("w.bin"), expected.get("zstd/w.bin"));
    Files.write(src.resolve("t.bin"), expected.get("tar/w.bin"));
    sh(src, "tar", "-czf", "../dir.tar.gz", "tokenizer");
    sh(src, "tar", "-cf", "../w.tar", "w.bin");
    sh(src, "tar", "-cf", "../t.tar", "t.bin");
    byte[] dirGz = Files.readAllBytes(tmp.resolve("dir.tar.gz"));
    byte[] wZst = com.github.luben.zstd.Zstd.compress(Files.readAllBytes(tmp.resolve("w.tar")), 3);
    byte[] tTar = Files.readAllBytes(tmp.resolve("t.tar"));
    byte[] raw = expected.get("raw.bin");

    Path layoutDir = tmp.resolve("layout");
    Reference ref = Reference.parse("oci:" + layoutDir + ":mixed");
    try (OciLayout l = OciLayout.create(ref)) {
      ObjectNode m = JSON.createObjectNode().put("schemaVersion", 2).put("mediaType", MediaTypes.OCI_MANIFEST)
          .put("artifactType", MediaTypes.MODEL_ARTIFACT);
      byte[] config = "{\"descriptor\":{\"name\":\"mixed\"},\"config\":{},\"modelfs\":{\"type\":\"layers\",\"diffIds\":[]}}"
          .getBytes(StandardCharsets.UTF_8);
      Digest cd = put(l, config);
      m.putObject("config").put("mediaType", MediaTypes.MODEL_CONFIG).put("digest", cd.toString()).put("size", config.length);
      ArrayNode layers = m.putArray("layers");
      layer(layers, "application/vnd.oci.image.layer.v1.tar+gzip", put(l, dirGz), dirGz.length)
          .put(MediaTypes.ANNOTATION_TITLE, "tokenizer").put(MediaTypes.ANNOTATION_ORAS_UNPACK, "true");
      layer(layers, "application/vnd.cncf.model.weight.v1.tar+zstd", put(l, wZst), wZst.length)
          .put(MediaTypes.ANNOTATION_FILEPATH, "zstd/w.bin");
      layer(layers, "application/vnd.cncf.model.weight.v1.tar", put(l, tTar), tTar.length)
          .put(MediaTypes.ANNOTATION_FILEPATH, "tar/w.bin");
      layer(layers, "application/vnd.cncf.model.weight.v1.raw", put(l, raw), raw.length)
          .put(MediaTypes.ANNOTATION_FILEPATH, "raw.bin");
      l.putManifest("mixed", JSON.writeValueAsBytes(m), MediaTypes.OCI_MANIFEST);
    }

    try (DaemonProcess d = new DaemonProcess(tmp.resolve("home"), "--chunk-size", "256K").start()) {
      Path mp = Files.createDirectories(tmp.resolve("mnt"));
      Cli.ok("mount", "--home", d.home.toString(), ref.toString(), mp.toString());
      try {
        for (var e : expected.entrySet()) {
          assertEquals(Digest.of(e.getValue()).hex(), LazyMountIT.sha256(mp.resolve(e.getKey())), e.getKey());
        }
        // A second, unaligned read from the middle of the zstd file comes from the cache.
        byte[] mid = LazyMountIT.pread(mp.resolve("zstd/w.bin"), 4_000_001, 70_000);
        assertEquals(Digest.of(java.util.Arrays.copyOfRange(expected.get("zstd/w.bin"), 4_000_001, 4_070_001)), Digest.of(mid));
      } finally {
        Cli.ok("umount", "--home", d.home.toString(), mp.toString());
      }
    }
  }
}
