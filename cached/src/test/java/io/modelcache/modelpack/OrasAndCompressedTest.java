package io.modelcache.modelpack;

import static io.modelcache.modelpack.TestLayouts.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OrasAndCompressedTest {
  static final Instant T = Instant.ofEpochSecond(1_700_000_000L);
  @TempDir Path tmp;

  /** A tar entry without the end-of-archive marker. */
  static byte[] entry(String name, byte[] content) throws Exception {
    byte[] h = TarWriter.header(name, content.length, 0600, 0, 0, T);
    byte[] all = TarWriter.stream(h, content.length, new ByteArrayInputStream(content)).readAllBytes();
    return java.util.Arrays.copyOf(all, all.length - 1024);
  }

  static byte[] gzip(byte[] b) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream g = new GZIPOutputStream(out)) {
      g.write(b);
    }
    return out.toByteArray();
  }

  static ObjectNode layer(ArrayNode layers, String mt, Digest d, long size) {
    ObjectNode o = layers.addObject();
    o.put("mediaType", mt);
    o.put("digest", d.toString());
    o.put("size", size);
    return o.putObject("annotations");
  }

  @Test
  void orasArtifactWithDirectoryLayer() throws Exception {
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    byte[] weights = TestLayouts.pseudoRandom(1, 5000);
    byte[] vocab = "{\"a\":1}".getBytes(StandardCharsets.UTF_8);
    byte[] merges = "a b\n".getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream tar = new ByteArrayOutputStream();
    tar.writeBytes(TarLocatorTest.gnuBlock("tokenizer/", 0, '5'));
    tar.writeBytes(entry("tokenizer/vocab.json", vocab));
    tar.writeBytes(entry("tokenizer/sub/merges.txt", merges));
    tar.writeBytes(new byte[1024]);
    byte[] dirBlob = gzip(tar.toByteArray());
    ObjectNode m = JSON.createObjectNode();
    m.put("schemaVersion", 2);
    m.put("mediaType", MediaTypes.OCI_MANIFEST);
    m.put("artifactType", "application/vnd.example.model");
    m.putObject("config").put("mediaType", MediaTypes.OCI_EMPTY);
    ArrayNode layers = m.putArray("layers");
    layer(layers, "application/octet-stream", TestLayouts.put(l, weights), weights.length)
        .put(MediaTypes.ANNOTATION_TITLE, "weights.bin");
    ObjectNode dirAnn = layer(layers, "application/vnd.oci.image.layer.v1.tar+gzip", TestLayouts.put(l, dirBlob),
        dirBlob.length);
    dirAnn.put(MediaTypes.ANNOTATION_TITLE, "tokenizer");
    dirAnn.put(MediaTypes.ANNOTATION_ORAS_UNPACK, "true");
    m.putObject("annotations").put(MediaTypes.ANNOTATION_TITLE, "my-model");
    TestLayouts.manifest(l, "oras", m, "{}".getBytes(StandardCharsets.UTF_8));

    ModelArtifact a = ModelReader.read(l, "oras");
    assertEquals("my-model", a.name());
    assertEquals(List.of("weights.bin", "tokenizer/vocab.json", "tokenizer/sub/merges.txt"),
        a.files().stream().map(ModelFile::path).toList());
    assertEquals(List.of(LayerFormat.RAW, LayerFormat.TAR_GZIP, LayerFormat.TAR_GZIP),
        a.files().stream().map(ModelFile::format).toList());
    assertEquals(List.of(FileKind.WEIGHT, FileKind.WEIGHT_CONFIG, FileKind.WEIGHT_CONFIG),
        a.files().stream().map(ModelFile::kind).toList());
    assertEquals(1024, a.files().get(1).contentOffset());
    assertEquals(0600, a.files().get(1).mode());
    Path out = tmp.resolve("out");
    ModelPuller.pull(l, a, out, 2, null);
    assertArrayEquals(weights, Files.readAllBytes(out.resolve("weights.bin")));
    assertArrayEquals(vocab, Files.readAllBytes(out.resolve("tokenizer/vocab.json")));
    assertArrayEquals(merges, Files.readAllBytes(out.resolve("tokenizer/sub/merges.txt")));
    assertEquals(T, Files.getLastModifiedTime(out.resolve("tokenizer/vocab.json")).toInstant());
  }

  @Test
  void gzipAndZstdSingleFileLayersPull() throws Exception {
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    byte[] content = TestLayouts.pseudoRandom(9, 200_000);
    byte[] t = new ByteArrayOutputStream() {
      {
        writeBytes(entry("w.bin", content));
        writeBytes(new byte[1024]);
      }
    }.toByteArray();
    byte[] gz = gzip(t);
    byte[] zs = com.github.luben.zstd.Zstd.compress(t);
    ObjectNode m = JSON.createObjectNode();
    m.put("schemaVersion", 2);
    m.put("mediaType", MediaTypes.OCI_MANIFEST);
    m.put("artifactType", MediaTypes.MODEL_ARTIFACT);
    m.putObject("config").put("mediaType", MediaTypes.MODEL_CONFIG);
    ArrayNode layers = m.putArray("layers");
    layer(layers, "application/vnd.cncf.model.weight.v1.tar+gzip", TestLayouts.put(l, gz), gz.length)
        .put(MediaTypes.ANNOTATION_FILEPATH, "g/w.bin");
    layer(layers, "application/vnd.cncf.model.weight.v1.tar+zstd", TestLayouts.put(l, zs), zs.length)
        .put(MediaTypes.ANNOTATION_FILEPATH, "z/w.bin");
    TestLayouts.manifest(l, "c", m, "{\"descriptor\":{\"name\":\"c\"}}".getBytes(StandardCharsets.UTF_8));
    ModelArtifact a = ModelReader.read(l, "c");
    Path out = tmp.resolve("out");
    ModelPuller.pull(l, a, out, 2, null);
    assertArrayEquals(content, Files.readAllBytes(out.resolve("g/w.bin")));
    assertArrayEquals(content, Files.readAllBytes(out.resolve("z/w.bin")));
  }
}
