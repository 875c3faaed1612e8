package io.modelcache.modelpack;

import static io.modelcache.modelpack.TestLayouts.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
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

class ModelReaderTest {
  @TempDir Path tmp;

  private static byte[] tar(String name, byte[] content) throws Exception {
    byte[] h = TarWriter.header(name, content.length, 0644, 0, 0, Instant.ofEpochSecond(1_700_000_000L));
    return TarWriter.stream(h, content.length, new ByteArrayInputStream(content)).readAllBytes();
  }

  @Test
  void modctlV02RawFixture() throws Exception {
    Path fx = TestLayouts.shared().resolve("fixtures/modctl");
    ObjectNode m = (ObjectNode) JSON.readTree(fx.resolve("SYNTHESIZED-modctl-v0.2-raw-manifest.json").toFile());
    byte[] config = Files.readAllBytes(fx.resolve("SYNTHESIZED-modctl-v0.2-config.json"));
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    int i = 0;
    for (JsonNode layer : m.get("layers")) {
      byte[] blob = TestLayouts.pseudoRandom(i++, 1000 + 37 * i);
      ((ObjectNode) layer).put("digest", TestLayouts.put(l, blob).toString());
      ((ObjectNode) layer).put("size", blob.length);
    }
    TestLayouts.manifest(l, "v1", m, config);
    ModelArtifact a = ModelReader.read(l, "v1");
    assertEquals("Qwen3-0.6B", a.name());
    assertArrayEquals(config, a.config());
    assertEquals(Digest.of(config), a.configDigest());
    assertEquals(List.of("config.json", "tokenizer.json", "model.safetensors", "LICENSE", "README.md"),
        a.files().stream().map(ModelFile::path).toList());
    assertEquals(List.of(FileKind.WEIGHT_CONFIG, FileKind.WEIGHT_CONFIG, FileKind.WEIGHT, FileKind.DOC, FileKind.DOC),
        a.files().stream().map(ModelFile::kind).toList());
    ModelFile c = a.files().get(0);
    assertEquals(LayerFormat.RAW, c.format());
    assertEquals(0, c.contentOffset());
    assertEquals(1037, c.size());
    assertEquals(0644, c.mode());
    assertEquals(1000, c.uid());
    assertEquals(Instant.parse("2025-05-01T02:00:00.123456789Z"), c.mtime());
    assertEquals(a.files().stream().mapToLong(ModelFile::size).sum(), a.totalBytes());
    // by digest too
    ModelArtifact b = ModelReader.read(l, a.manifest().digest().toString());
    assertEquals(a.files(), b.files());
  }

  @Test
  void legacyCnaiTarFixture() throws Exception {
    Path fx = TestLayouts.shared().resolve("fixtures/modctl");
    ObjectNode m = (ObjectNode) JSON.readTree(fx.resolve("legacy-cnai-manifest-from-inspect_test.json").toFile());
    byte[] config = Files.readAllBytes(fx.resolve("legacy-cnai-config-from-inspect_test.json"));
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    int i = 0;
    for (JsonNode layer : m.get("layers")) {
      String path = layer.path("annotations").path("org.cnai.model.filepath").asText();
      byte[] blob = tar(path, TestLayouts.pseudoRandom(i, 100 * ++i));
      ((ObjectNode) layer).put("digest", TestLayouts.put(l, blob).toString());
      ((ObjectNode) layer).put("size", blob.length);
    }
    TestLayouts.manifest(l, "legacy", m, config);
    ModelArtifact a = ModelReader.read(l, "legacy");
    assertEquals("Qwen2.5-0.5B", a.name());
    assertEquals(List.of("LICENSE", "README.md", "config.json", "foo/bar.json", "generation_config.json",
        "tokenizer.json", "tokenizer_config.json", "vocab.json"), a.files().stream().map(ModelFile::path).toList());
    for (int k = 0; k < a.files().size(); k++) {
      ModelFile f = a.files().get(k);
      assertEquals(LayerFormat.TAR, f.format());
      assertEquals(512, f.contentOffset());
      assertEquals(100L * (k + 1), f.size());
    }
    assertEquals(FileKind.DOC, a.files().get(0).kind());
    assertEquals(FileKind.WEIGHT_CONFIG, a.files().get(2).kind());
  }

  private ObjectNode modelManifest() {
    ObjectNode m = JSON.createObjectNode();
    m.put("schemaVersion", 2);
    m.put("mediaType", MediaTypes.OCI_MANIFEST);
    m.put("artifactType", MediaTypes.MODEL_ARTIFACT);
    m.putObject("config").put("mediaType", MediaTypes.MODEL_CONFIG);
    m.putArray("layers");
    return m;
  }

  private static void layer(ArrayNode layers, String mt, Digest d, long size, String key, String path) {
    ObjectNode o = layers.addObject();
    o.put("mediaType", mt);
    o.put("digest", d.toString());
    o.put("size", size);
    if (path != null) {
      o.putObject("annotations").put(key, path);
    }
  }

  @Test
  void traversalIsRejected() throws Exception {
    Path p = tmp.resolve("l");
    OciLayout l = TestLayouts.layout(p);
    byte[] blob = "root:x:0:0".getBytes(StandardCharsets.UTF_8);
    Digest d = TestLayouts.put(l, blob);
    ObjectNode m = modelManifest();
    layer((ArrayNode) m.get("layers"), "application/vnd.cncf.model.doc.v1.raw", d, blob.length,
        MediaTypes.ANNOTATION_FILEPATH, "../../etc/passwd");
    TestLayouts.manifest(l, "evil", m, "{\"descriptor\":{\"name\":\"x\"}}".getBytes(StandardCharsets.UTF_8));
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> ModelReader.read(l, "evil"));
    assertEquals(ModelCacheException.Kind.UNSAFE_PATH, e.kind());
    assertEquals("oci:" + p + ":evil: layer " + d.shortHex() + ": unsafe file path '../../etc/passwd' ('..' segment)",
        e.getMessage());
  }

  @Test
  void sharedBlobAndDuplicates() throws Exception {
    Path p = tmp.resolve("l");
    OciLayout l = TestLayouts.layout(p);
    byte[] blob = "same".getBytes(StandardCharsets.UTF_8);
    Digest d = TestLayouts.put(l, blob);
    ObjectNode m = modelManifest();
    ArrayNode layers = (ArrayNode) m.get("layers");
    layer(layers, "application/vnd.cncf.model.doc.v1.raw", d, 4, MediaTypes.ANNOTATION_FILEPATH, "a.md");
    layer(layers, "application/vnd.cncf.model.doc.v1.raw", d, 4, MediaTypes.ANNOTATION_FILEPATH, "b/a.md");
    byte[] cfg = "{}".getBytes(StandardCharsets.UTF_8);
    TestLayouts.manifest(l, "ok", m, cfg);
    assertEquals(List.of("a.md", "b/a.md"), ModelReader.read(l, "ok").files().stream().map(ModelFile::path).toList());
    layer(layers, "application/vnd.cncf.model.doc.v1.raw", d, 4, MediaTypes.ANNOTATION_FILEPATH, "a.md");
    TestLayouts.manifest(l, "dup", m, cfg);
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> ModelReader.read(l, "dup"));
    assertEquals("oci:" + p + ":dup: duplicate file path 'a.md' in layers " + d.shortHex() + " and " + d.shortHex(),
        e.getMessage());
    assertEquals(ModelCacheException.Kind.UNSAFE_PATH, e.kind());
  }

  @Test
  void containerImageAndMalformedJsonAreRejected() throws Exception {
    Path p = tmp.resolve("l");
    OciLayout l = TestLayouts.layout(p);
    Digest d = TestLayouts.put(l, new byte[] {1, 2, 3});
    ObjectNode m = modelManifest();
    m.remove("artifactType");
    ((ObjectNode) m.get("config")).put("mediaType", "application/vnd.oci.image.config.v1+json");
    layer((ArrayNode) m.get("layers"), "application/vnd.oci.image.layer.v1.tar+gzip", d, 3, "x", null);
    TestLayouts.manifest(l, "img", m, "{}".getBytes(StandardCharsets.UTF_8));
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> ModelReader.read(l, "img"));
    assertEquals(ModelCacheException.Kind.INVALID_ARTIFACT, e.kind());
    assertEquals("oci:" + p + ":img: not a ModelPack artifact (config media type "
        + "application/vnd.oci.image.config.v1+json)", e.getMessage());

    l.putManifest("bad", "{\"schemaVersion\":2,".getBytes(StandardCharsets.UTF_8), MediaTypes.OCI_MANIFEST);
    e = assertThrows(ModelCacheException.class, () -> ModelReader.read(l, "bad"));
    assertEquals(ModelCacheException.Kind.INVALID_ARTIFACT, e.kind());
    assertEquals(true, e.getMessage().startsWith("oci:" + p + ":bad: malformed manifest: "), e.getMessage());
    assertEquals(false, e.getMessage().contains("\n"));
  }

  @Test
  void indexPicksTheModelManifest() throws Exception {
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    byte[] blob = "w".getBytes(StandardCharsets.UTF_8);
    Digest d = TestLayouts.put(l, blob);
    ObjectNode m = modelManifest();
    layer((ArrayNode) m.get("layers"), "application/vnd.cncf.model.weight.v1.raw", d, 1,
        MediaTypes.ANNOTATION_FILEPATH, "w.bin");
    TestLayouts.manifest(l, "m", m, "{}".getBytes(StandardCharsets.UTF_8));
    Digest md = l.fetchManifest("m").digest();
    ObjectNode idx = JSON.createObjectNode();
    idx.put("schemaVersion", 2);
    idx.put("mediaType", MediaTypes.OCI_INDEX);
    ObjectNode other = idx.putArray("manifests").addObject();
    other.put("mediaType", MediaTypes.OCI_MANIFEST);
    other.put("digest", Digest.of(new byte[] {9}).toString());
    other.put("size", 1);
    ObjectNode e = ((ArrayNode) idx.get("manifests")).addObject();
    e.put("mediaType", MediaTypes.OCI_MANIFEST);
    e.put("artifactType", MediaTypes.MODEL_ARTIFACT);
    e.put("digest", md.toString());
    e.put("size", l.fetchManifest("m").bytes().length);
    l.putManifest("idx", JSON.writeValueAsBytes(idx), MediaTypes.OCI_INDEX);
    ModelArtifact a = ModelReader.read(l, "idx");
    assertEquals(md, a.manifest().digest());
    assertEquals("w.bin", a.files().get(0).path());
  }

  @Test
  void compressedSingleFileLayers() throws Exception {
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    byte[] content = TestLayouts.pseudoRandom(5, 3000);
    byte[] t = tar("weights.bin", content);
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (GZIPOutputStream g = new GZIPOutputStream(gz)) {
      g.write(t);
    }
    byte[] zs = com.github.luben.zstd.Zstd.compress(t);
    Digest dg = TestLayouts.put(l, gz.toByteArray());
    Digest dz = TestLayouts.put(l, zs);
    ObjectNode m = modelManifest();
    ArrayNode layers = (ArrayNode) m.get("layers");
    layer(layers, "application/vnd.cncf.model.weight.v1.tar+gzip", dg, gz.size(), MediaTypes.ANNOTATION_FILEPATH, "g.bin");
    layer(layers, "application/vnd.cncf.model.weight.v1.tar+zstd", dz, zs.length, MediaTypes.ANNOTATION_FILEPATH, "z.bin");
    TestLayouts.manifest(l, "c", m, "{}".getBytes(StandardCharsets.UTF_8));
    ModelArtifact a = ModelReader.read(l, "c");
    assertEquals(LayerFormat.TAR_GZIP, a.files().get(0).format());
    assertEquals(LayerFormat.TAR_ZSTD, a.files().get(1).format());
    for (ModelFile f : a.files()) {
      assertEquals(512, f.contentOffset());
      assertEquals(3000, f.size());
    }
  }

  @Test
  void signaturesAreNotModels() throws Exception {
    Path p = tmp.resolve("l");
    OciLayout l = TestLayouts.layout(p);
    Path sig = TestLayouts.shared().resolve("fixtures/signatures");
    byte[] payload = "{}".getBytes(StandardCharsets.UTF_8);
    Digest pd = TestLayouts.put(l, payload);
    for (String f : List.of("cosign-bundle-referrer-manifest.example.json", "notation-signature-manifest.example.json")) {
      ObjectNode m = (ObjectNode) JSON.readTree(sig.resolve(f).toFile());
      for (JsonNode layer : m.get("layers")) {
        ((ObjectNode) layer).put("digest", pd.toString());
        ((ObjectNode) layer).put("size", payload.length);
      }
      m.remove("subject");
      TestLayouts.manifest(l, "sig", m, payload);
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> ModelReader.read(l, "sig"));
      assertEquals(ModelCacheException.Kind.INVALID_ARTIFACT, e.kind());
      String why = f.startsWith("cosign") ? "artifact type application/vnd.dev.sigstore.bundle.v0.3+json"
          : "config media type application/vnd.cncf.notary.signature";
      assertEquals("oci:" + p + ":sig: not a ModelPack artifact (" + why + ")", e.getMessage());
    }
  }

  @Test
  void metadataFallbacks() throws Exception {
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    byte[] raw = "raw".getBytes(StandardCharsets.UTF_8);
    byte[] t = tar("in-tar-name", "tarred".getBytes(StandardCharsets.UTF_8));
    Digest dr = TestLayouts.put(l, raw);
    Digest dt = TestLayouts.put(l, t);
    ObjectNode m = modelManifest();
    ArrayNode layers = (ArrayNode) m.get("layers");
    layer(layers, "application/vnd.cnai.model.code.v1.raw", dr, raw.length, MediaTypes.ANNOTATION_TITLE, "run.sh");
    ((ObjectNode) layers.get(0).get("annotations")).put(MediaTypes.LEGACY_ANNOTATION_FILE_METADATA,
        "{\"name\":\"run.sh\",\"mode\":493,\"uid\":5,\"gid\":6,\"size\":3,\"typeflag\":48}");
    layer(layers, "application/vnd.cncf.model.doc.v1.raw", dr, raw.length, MediaTypes.ANNOTATION_FILEPATH, "plain.md");
    layer(layers, "application/vnd.cncf.model.doc.v1.tar", dt, t.length, MediaTypes.ANNOTATION_FILEPATH, "t.md");
    m.putObject("annotations").put("org.opencontainers.image.created", "2024-06-01T00:00:00Z");
    TestLayouts.manifest(l, "meta", m, "{}".getBytes(StandardCharsets.UTF_8));
    ModelArtifact a = ModelReader.read(l, "meta");
    ModelFile run = a.files().get(0);
    assertEquals(0755, run.mode());
    assertEquals(5, run.uid());
    assertEquals(6, run.gid());
    assertEquals(FileKind.CODE, run.kind());
    assertEquals(Instant.parse("2024-06-01T00:00:00Z"), run.mtime());
    ModelFile plain = a.files().get(1);
    assertEquals(0644, plain.mode());
    assertEquals(Instant.parse("2024-06-01T00:00:00Z"), plain.mtime());
    ModelFile tf = a.files().get(2);
    assertEquals(6, tf.size());
    assertEquals(Instant.ofEpochSecond(1_700_000_000L), tf.mtime());
    assertEquals(LayerFormat.TAR, tf.format());
  }
}
