package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.modelcache.cache.ChunkDigests;
import io.modelcache.chunkindex.ChunkIndex;
import io.modelcache.chunkindex.IndexStore;
import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.safetensors.SyntheticModel;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** push builds the chunk index in the same read; index builds the same one for a model pushed without. */
class ChunkIndexPushTest {
  @TempDir static Path shared;
  static Path model;
  @TempDir Path tmp;

  @BeforeAll
  static void generate() throws Exception {
    model = shared.resolve("model");
    SyntheticModel.generate(model, new SyntheticModel.Spec(6L << 20, 2, "BF16", 2, 7));
  }

  /** Each chunk of each file as the source directory has it. */
  static void assertDigestsOfSource(Map<String, ChunkDigests> byPath, int cs) throws Exception {
    for (var e : byPath.entrySet()) {
      byte[] content = Files.readAllBytes(model.resolve(e.getKey()));
      ChunkDigests d = e.getValue();
      assertEquals(content.length, d.length(), e.getKey());
      for (int g = 0; g < d.granules(); g++) {
        byte[] part = Arrays.copyOfRange(content, g * cs, Math.min(content.length, (g + 1) * cs));
        assertArrayEquals(Digest.sha256().digest(part), d.digest(g), e.getKey() + " chunk " + g);
      }
    }
  }

  private void check(boolean tar, int cs) throws Exception {
    Path lp = tmp.resolve("layout-" + tar + "-" + cs);
    Reference ref = Reference.parse("oci:" + lp);
    OciLayout l = OciLayout.create(ref);
    ModelPusher.push(model, l, "v1", new PushOptions(tar, 2, null, cs), PushPullTest.CLOCK);
    ModelArtifact art = ModelReader.read(OciLayout.open(ref), "v1");
    IndexStore.Found found = IndexStore.find(l, art.manifest().digest());
    assertNotNull(found, "pushed with the model");
    assertEquals("referrers tag", found.via());
    assertEquals(cs, found.index().chunkSize());
    Map<String, ChunkDigests> accepted = ModelIndexer.accept(found.index(), art);
    assertEquals(art.files().size(), accepted.size());
    assertDigestsOfSource(accepted, cs);
    ChunkIndex rebuilt = ModelIndexer.build(l, art, cs);
    assertArrayEquals(found.index().toJson(), rebuilt.toJson(), "index builds what push built");
  }

  @Test
  void pushBuildsTheIndexForRawLayers() throws Exception {
    check(false, ChunkIndex.DEFAULT_CHUNK_SIZE);
  }

  @Test
  void pushBuildsTheIndexForTarLayersInFileCoordinates() throws Exception {
    check(true, 64 << 10);
  }

  @Test
  void indexBuildsOneForAModelPushedWithoutIt() throws Exception {
    Path lp = tmp.resolve("plain");
    Reference ref = Reference.parse("oci:" + lp);
    OciLayout l = OciLayout.create(ref);
    ModelPusher.push(model, l, "v1", new PushOptions(false, 2, null, 0), PushPullTest.CLOCK);
    ModelArtifact art = ModelReader.read(l, "v1");
    assertNull(IndexStore.find(l, art.manifest().digest()));
    Digest artifact = IndexStore.publish(l, l, ModelIndexer.build(l, art, 1 << 20));
    IndexStore.Found found = IndexStore.find(l, art.manifest().digest());
    assertEquals(artifact, found.artifact());
    assertDigestsOfSource(ModelIndexer.accept(found.index(), art), 1 << 20);
    try (InputStream in = l.openBlob(art.files().getFirst().layer().digest(), 0, 1)) {
      assertEquals(1, in.readAllBytes().length);
    }
  }
}
