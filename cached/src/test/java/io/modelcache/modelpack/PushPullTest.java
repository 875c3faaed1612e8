package io.modelcache.modelpack;

import static io.modelcache.modelpack.TestLayouts.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelcache.error.ModelCacheException;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import io.modelcache.safetensors.SyntheticModel;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PushPullTest {
  static final Clock CLOCK = Clock.fixed(Instant.parse("2026-01-02T03:04:05.123456789Z"), ZoneOffset.UTC);
  @TempDir static Path shared;
  static Path model;
  @TempDir Path tmp;

  @BeforeAll
  static void generate() throws Exception {
    model = shared.resolve("model");
    SyntheticModel.generate(model, new SyntheticModel.Spec(64L << 20, 3, "BF16", 4, 1));
    Files.createDirectories(model.resolve("docs/sub"));
    Files.copy(model.resolve("README.md"), model.resolve("docs/sub/README-copy.md"));
    Files.writeString(model.resolve("run.sh"), "#!/bin/sh\necho hi\n");
    Files.setPosixFilePermissions(model.resolve("run.sh"), PosixFilePermissions.fromString("rwxr-x---"));
    Files.setLastModifiedTime(model.resolve("run.sh"), FileTime.from(Instant.parse("2025-03-04T05:06:07.5Z")));
    Files.createDirectories(model.resolve(".git"));
    Files.writeString(model.resolve(".git/HEAD"), "ref: x\n");
    Files.writeString(model.resolve(".hidden"), "x");
  }

  static TreeMap<String, String> tree(Path dir) throws IOException {
    TreeMap<String, String> m = new TreeMap<>();
    try (var s = Files.walk(dir)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        String rel = dir.relativize(p).toString();
        if (!rel.startsWith(".")) {
          m.put(rel, TestLayouts.sha256(p));
        }
      }
    }
    return m;
  }

  private void roundTrip(boolean tar) throws Exception {
    roundTrip(tar, PageCacheMode.AUTO);
  }

  private void roundTrip(boolean tar, PageCacheMode pageCache) throws Exception {
    Path lp = tmp.resolve("layout");
    OciLayout l = OciLayout.create(Reference.parse("oci:" + lp));
    Digest md = ModelPusher.push(model, l, "v1", new PushOptions(tar, 4, null), CLOCK);
    ModelArtifact a = ModelReader.read(OciLayout.open(Reference.parse("oci:" + lp)), "v1");
    assertEquals(md, a.manifest().digest());
    assertEquals("model", a.name());
    List<String> paths = a.files().stream().map(ModelFile::path).toList();
    assertEquals(List.of("config.json", "generation_config.json", "model.safetensors.index.json",
        "tokenizer_config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors", "run.sh", "README.md", "docs/sub/README-copy.md"), paths);
    JsonNode m = JSON.readTree(a.manifest().bytes());
    assertEquals(MediaTypes.MODEL_ARTIFACT, m.path("artifactType").asText());
    assertEquals(MediaTypes.MODEL_CONFIG, m.path("config").path("mediaType").asText());
    String fmt = tar ? "tar" : "raw";
    assertEquals("application/vnd.cncf.model.weight.config.v1." + fmt, m.path("layers").get(0).path("mediaType").asText());
    assertEquals("application/vnd.cncf.model.weight.v1." + fmt, m.path("layers").get(4).path("mediaType").asText());
    assertEquals("application/vnd.cncf.model.code.v1." + fmt, m.path("layers").get(7).path("mediaType").asText());
    assertEquals("application/vnd.cncf.model.doc.v1." + fmt, m.path("layers").get(8).path("mediaType").asText());
    JsonNode ann = m.path("layers").get(7).path("annotations");
    assertEquals("run.sh", ann.path(MediaTypes.ANNOTATION_FILEPATH).asText());
    assertEquals("run.sh", ann.path(MediaTypes.ANNOTATION_TITLE).asText());
    assertEquals("false", ann.path(MediaTypes.ANNOTATION_UNTESTED).asText());
    JsonNode meta = JSON.readTree(ann.path(MediaTypes.ANNOTATION_FILE_METADATA).asText());
    assertEquals("run.sh", meta.path("name").asText());
    assertEquals(0750, meta.path("mode").asInt());
    assertEquals("2025-03-04T05:06:07.5Z", meta.path("mtime").asText());
    assertEquals(0, meta.path("typeflag").asInt());
    JsonNode cfg = JSON.readTree(a.config());
    assertEquals("2026-01-02T03:04:05.123456789Z", cfg.path("descriptor").path("createdAt").asText());
    assertEquals("llama", cfg.path("descriptor").path("family").asText());
    assertEquals("bfloat16", cfg.path("config").path("precision").asText());
    assertEquals("safetensors", cfg.path("config").path("format").asText());
    for (int i = 0; i < paths.size(); i++) {
      assertEquals(m.path("layers").get(i).path("digest").asText(), cfg.path("modelfs").path("diffIds").get(i).asText());
    }
    // README.md and its copy share content: one blob when raw (tar headers differ by name).
    ModelFile readme = a.files().get(8);
    ModelFile copy = a.files().get(9);
    assertEquals(!tar, readme.layer().digest().equals(copy.layer().digest()));
    try (var s = Files.list(lp.resolve("blobs/sha256"))) {
      long blobs = s.count();
      // + config + manifest, + the chunk index: empty config, index, its manifest, the referrers tag's index
      assertEquals(paths.size() + 2 + 4 - (tar ? 0 : 1), blobs);
    }
    if (tar) {
      assertEquals(LayerFormat.TAR, readme.format());
      assertEquals(512, readme.contentOffset());
    }
    Path out = tmp.resolve("out");
    List<Progress> seen = new CopyOnWriteArrayList<>();
    ModelPuller.pull(l, a, out, 4, seen::add, pageCache);
    assertEquals(tree(model), tree(out));
    assertFalse(Files.exists(out.resolve(ModelPuller.PARTIAL_DIR)));
    assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("run.sh"))));
    assertEquals(Instant.parse("2025-03-04T05:06:07.5Z"), Files.getLastModifiedTime(out.resolve("run.sh")).toInstant());
    assertEquals(paths.size(), seen.stream().filter(Progress::placed).count());
    assertTrue(a.totalBytes() > (56L << 20), "total " + a.totalBytes());
  }

  @Test
  void rawRoundTrip() throws Exception {
    roundTrip(false);
  }

  @Test
  void tarRoundTrip() throws Exception {
    roundTrip(true);
  }

  /** Every whole 4 MiB buffer of the 21 MiB shards written through O_DIRECT, the tails buffered. */
  @Test
  void rawRoundTripBypassingThePageCache() throws Exception {
    roundTrip(false, PageCacheMode.BYPASS);
  }

  @Test
  void tarRoundTripBypassingThePageCache() throws Exception {
    roundTrip(true, PageCacheMode.BYPASS);
  }

  private OciLayout small(Path lp) throws Exception {
    return small(lp, 300_000, PushOptions.defaults());
  }

  /** weights.bin of {@code weightBytes} and a config.json, pushed into a layout at {@code lp}. */
  private OciLayout small(Path lp, int weightBytes, PushOptions options) throws Exception {
    Path d = tmp.resolve("small");
    Files.createDirectories(d);
    Files.write(d.resolve("weights.bin"), TestLayouts.pseudoRandom(3, weightBytes));
    Files.writeString(d.resolve("config.json"), "{}");
    OciLayout l = OciLayout.create(Reference.parse("oci:" + lp));
    ModelPusher.push(d, l, "v1", options, CLOCK);
    return l;
  }

  @Test
  void corruptedBlobFailsPullAndLeavesNothing() throws Exception {
    Path lp = tmp.resolve("l");
    OciLayout l = small(lp);
    ModelArtifact a = ModelReader.read(l, "v1");
    ModelFile w = a.files().get(1);
    assertEquals("weights.bin", w.path());
    byte[] bad = Files.readAllBytes(l.blobPath(w.layer().digest()));
    bad[1000] ^= 0x55;
    Files.write(l.blobPath(w.layer().digest()), bad);
    Path out = tmp.resolve("out");
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> ModelPuller.pull(l, a, out, 2, null));
    assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
    assertEquals("oci:" + lp + ":v1: layer " + w.layer().digest() + " failed verification (got "
        + Digest.of(bad) + ")", e.getMessage());
    assertFalse(Files.exists(out.resolve("weights.bin")));
    assertFalse(Files.exists(out.resolve(ModelPuller.PARTIAL_DIR).resolve(w.layer().digest().hex())));
  }

  /** Counts where blob reads start, to prove a resumed pull continues from the partial file. */
  /** Records each blob read's offset; with {@code cut}, that blob's streams end after {@code keep} bytes. */
  record Recording(OciLayout inner, List<Long> offsets, Digest cut, int keep) implements ArtifactSource {
    Recording(OciLayout inner, List<Long> offsets) {
      this(inner, offsets, null, 0);
    }

    @Override
    public Reference reference() {
      return inner.reference();
    }

    @Override
    public FetchedManifest fetchManifest(String t) throws IOException {
      return inner.fetchManifest(t);
    }

    @Override
    public byte[] fetchBlob(Digest d, long max) throws IOException {
      return inner.fetchBlob(d, max);
    }

    @Override
    public InputStream openBlob(Digest d, long offset, long length) throws IOException {
      offsets.add(offset);
      InputStream in = inner.openBlob(d, offset, length);
      if (!d.equals(cut)) {
        return in;
      }
      try (in) {
        return new java.io.ByteArrayInputStream(in.readNBytes(keep)); // ends early, without an error
      }
    }

    @Override
    public void close() {}
  }

  @Test
  void resumesFromPartialDownload() throws Exception {
    resumeFrom(123_456, 123_456); // a small model is written through the page cache: continued exactly there
  }

  /** Through O_DIRECT (a model too big for the page cache) a resumed download restarts on a block boundary. */
  @Test
  void resumesAnUnalignedPartialDownloadFromABlockBoundaryThroughODirect() throws Exception {
    Path probe = Files.createDirectories(tmp.resolve("probe")).resolve("f");
    Files.createFile(probe);
    long expected;
    try (DirectFile direct = DirectFile.open(probe)) {
      expected = direct == null ? 123_456 : direct.alignDown(123_456);
      if (direct == null) {
        System.err.println("NOTE: " + tmp + " refuses O_DIRECT; the pull's buffered path is tested instead");
      }
    }
    System.setProperty(DirectFile.PROPERTY, "true");
    try {
      resumeFrom(123_456, expected);
    } finally {
      System.clearProperty(DirectFile.PROPERTY);
    }
  }

  private OciLayout smallTar(Path lp) throws Exception {
    return small(lp, 9_000_123, new PushOptions(true, 4, null));
  }

  /** The small tar model, its weights file, the pull's target and that file's partial entry path. */
  private record TarCase(Path lp, OciLayout l, ModelArtifact a, ModelFile w, Path out, Path part, byte[] content) {}

  private TarCase tarCase() throws Exception {
    Path lp = tmp.resolve("l");
    OciLayout l = smallTar(lp);
    ModelArtifact a = ModelReader.read(l, "v1");
    ModelFile w = a.files().get(1);
    Path out = tmp.resolve("out");
    Path part = out.resolve(ModelPuller.PARTIAL_DIR).resolve(w.layer().digest().hex() + ".entry");
    Files.createDirectories(part.getParent());
    return new TarCase(lp, l, a, w, out, part, Files.readAllBytes(tmp.resolve("small/weights.bin")));
  }

  /** A plain tar layer's one file is written straight from the stream: no blob is kept beside it. */
  @Test
  void aTarEntryIsStreamedIntoItsFile() throws Exception {
    TarCase c = tarCase();
    assertEquals(LayerFormat.TAR, c.w().format());
    // A whole-blob partial an older pull left (junk here): not resumed from, and removed.
    Files.write(c.part().resolveSibling(c.w().layer().digest().hex()), new byte[12_345]);
    List<Long> offsets = java.util.Collections.synchronizedList(new ArrayList<>());
    ModelPuller.pull(new Recording(c.l(), offsets), c.a(), c.out(), 1, null);
    assertArrayEquals(c.content(), Files.readAllBytes(c.out().resolve("weights.bin")));
    assertEquals(List.of(0L, 0L), offsets, "each blob read once, from its start");
    assertFalse(Files.exists(c.out().resolve(ModelPuller.PARTIAL_DIR)));
  }

  /** A tar layer that is a directory holding one file: the file's header follows the directory's. */
  @Test
  void aDirectoryTarLayerWithOneFileIsPulledExactly() throws Exception {
    byte[] content = TestLayouts.pseudoRandom(5, 6_000_007);
    java.time.Instant t = java.time.Instant.ofEpochSecond(1_700_000_000L);
    byte[] dir = TarWriter.header("weights/", 0, 0755, 0, 0, t);
    dir[156] = '5';
    java.util.Arrays.fill(dir, 148, 156, (byte) ' ');
    int sum = 0;
    for (byte b : dir) {
      sum += b & 0xff;
    }
    byte[] chk = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(chk, 0, dir, 148, 8);
    byte[] file = TarWriter.stream(TarWriter.header("weights/w.bin", content.length, 0644, 0, 0, t), content.length,
        new java.io.ByteArrayInputStream(content)).readAllBytes();
    byte[] blob = new byte[dir.length + file.length];
    System.arraycopy(dir, 0, blob, 0, dir.length);
    System.arraycopy(file, 0, blob, dir.length, file.length);
    OciLayout l = TestLayouts.layout(tmp.resolve("l"));
    Digest d = TestLayouts.put(l, blob);
    com.fasterxml.jackson.databind.node.ObjectNode m = TestLayouts.JSON.createObjectNode();
    m.put("schemaVersion", 2);
    m.put("mediaType", MediaTypes.OCI_MANIFEST);
    m.put("artifactType", MediaTypes.MODEL_ARTIFACT);
    m.putObject("config").put("mediaType", MediaTypes.MODEL_CONFIG);
    com.fasterxml.jackson.databind.node.ObjectNode layer = m.putArray("layers").addObject();
    layer.put("mediaType", "application/vnd.cncf.model.weight.v1.tar");
    layer.put("digest", d.toString());
    layer.put("size", blob.length);
    layer.putObject("annotations").put(MediaTypes.ANNOTATION_FILEPATH, "weights");
    TestLayouts.manifest(l, "dir", m, "{}".getBytes(StandardCharsets.UTF_8));
    ModelArtifact a = ModelReader.read(l, "dir");
    assertEquals(1, a.files().size());
    assertEquals(1024, a.files().get(0).contentOffset());
    Path out = tmp.resolve("out");
    ModelPuller.pull(l, a, out, 1, null);
    assertArrayEquals(content, Files.readAllBytes(out.resolve("weights/w.bin")));
    assertTrue(TarEntryDownload.sameEntry(java.util.Arrays.copyOf(blob, 1024), 1024, content.length));
    assertFalse(TarEntryDownload.sameEntry(java.util.Arrays.copyOf(blob, 1024), 1024, content.length + 1),
        "a header giving another size is not the entry the layer was read with");
  }

  /** Resumed: the header again from the registry, the content on disk hashed, the rest fetched after it. */
  @Test
  void aTarEntryResumesAfterTheContentAlreadyWritten() throws Exception {
    resumeTarEntry(PageCacheMode.KEEP);
  }

  /** Through O_DIRECT the resumed content restarts on the block boundary below what is on disk. */
  @Test
  void aTarEntryResumesFromABlockBoundaryThroughODirect() throws Exception {
    resumeTarEntry(PageCacheMode.BYPASS);
  }

  private void resumeTarEntry(PageCacheMode mode) throws Exception {
    TarCase c = tarCase();
    int partial = 5_000_001;
    Files.write(c.part(), java.util.Arrays.copyOf(c.content(), partial));
    long expected = partial;
    if (mode == PageCacheMode.BYPASS) {
      try (DirectFile direct = DirectFile.open(c.part())) {
        if (direct == null) {
          System.err.println("NOTE: " + tmp + " refuses O_DIRECT; the tar entry's buffered resume is tested instead");
        } else {
          expected = direct.alignDown(partial);
        }
      }
    }
    List<Long> offsets = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Progress> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
    ModelPuller.pull(new Recording(c.l(), offsets), c.a(), c.out(), 1, seen::add, mode);
    long at = c.w().contentOffset() + expected;
    assertTrue(offsets.contains(0L) && offsets.contains(at), offsets + " (expected 0 and " + at + ")");
    assertArrayEquals(c.content(), Files.readAllBytes(c.out().resolve("weights.bin")));
    long total = c.a().files().stream().mapToLong(f -> f.layer().size()).sum();
    assertEquals(total, seen.get(seen.size() - 1).totalDone(),
        "progress ends at the total, resumed bytes counted once");
  }

  /** A stream that ends early without an error fails verification; no file appears; the next pull works. */
  @Test
  void aTarStreamCutShortFailsWithoutPlacingTheFile() throws Exception {
    TarCase c = tarCase();
    ArtifactSource shortStream = new Recording(c.l(), new ArrayList<>(), c.w().layer().digest(), 3_000_000);
    ModelCacheException e =
        assertThrows(ModelCacheException.class, () -> ModelPuller.pull(shortStream, c.a(), c.out(), 1, null));
    assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
    assertFalse(Files.exists(c.out().resolve("weights.bin")));
    assertFalse(Files.exists(c.part()), "bytes that failed verification are not kept to resume from");
    ModelPuller.pull(c.l(), c.a(), c.out(), 1, null);
    assertArrayEquals(c.content(), Files.readAllBytes(c.out().resolve("weights.bin")));
  }

  /** Garbage left in the partial content fails the blob's digest, and leaves nothing to resume from. */
  @Test
  void aCorruptPartialTarEntryFailsVerificationAndIsDropped() throws Exception {
    TarCase c = tarCase();
    byte[] bad = java.util.Arrays.copyOf(c.content(), 1_000_000);
    bad[777] ^= 1;
    Files.write(c.part(), bad);
    ModelCacheException e =
        assertThrows(ModelCacheException.class, () -> ModelPuller.pull(c.l(), c.a(), c.out(), 1, null));
    assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, e.kind());
    String line = "oci:" + c.lp() + ":v1: layer " + c.w().layer().digest() + " failed verification";
    assertTrue(e.getMessage().startsWith(line), e.getMessage());
    assertFalse(Files.exists(c.part()));
    assertFalse(Files.exists(c.out().resolve("weights.bin")));
    ModelPuller.pull(c.l(), c.a(), c.out(), 1, null);
    assertArrayEquals(c.content(), Files.readAllBytes(c.out().resolve("weights.bin")));
  }

  /** A corrupt tar blob in the registry: digest mismatch, no file at the final path, no partial kept. */
  @Test
  void aCorruptTarBlobFailsPullAndLeavesNothing() throws Exception {
    TarCase c = tarCase();
    Digest d = c.w().layer().digest();
    byte[] blob = Files.readAllBytes(c.l().blobPath(d));
    blob[4_000_000] ^= 0x55;
    Files.write(c.l().blobPath(d), blob);
    ModelCacheException e =
        assertThrows(ModelCacheException.class, () -> ModelPuller.pull(c.l(), c.a(), c.out(), 1, null));
    assertEquals("oci:" + c.lp() + ":v1: layer " + d + " failed verification (got " + Digest.of(blob) + ")",
        e.getMessage());
    assertFalse(Files.exists(c.out().resolve("weights.bin")));
    assertFalse(Files.exists(c.part()));
  }

  private void resumeFrom(int partialBytes, long expectedOffset) throws Exception {
    Path lp = tmp.resolve("l");
    OciLayout l = small(lp);
    ModelArtifact a = ModelReader.read(l, "v1");
    ModelFile w = a.files().get(1);
    Path out = tmp.resolve("out");
    Path part = out.resolve(ModelPuller.PARTIAL_DIR).resolve(w.layer().digest().hex());
    Files.createDirectories(part.getParent());
    byte[] blob = Files.readAllBytes(l.blobPath(w.layer().digest()));
    Files.write(part, java.util.Arrays.copyOf(blob, partialBytes));
    List<Long> offsets = new ArrayList<>();
    ModelPuller.pull(new Recording(l, java.util.Collections.synchronizedList(offsets)), a, out, 1, null);
    assertTrue(offsets.contains(expectedOffset), offsets.toString());
    assertEquals(TestLayouts.sha256(tmp.resolve("small/weights.bin")), TestLayouts.sha256(out.resolve("weights.bin")));
    assertEquals("{}", Files.readString(out.resolve("config.json"), StandardCharsets.UTF_8));
  }
}
