package io.modelcache.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.fuse.BackingFile;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.layout.OciLayout;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.oci.Reference;
import io.modelcache.safetensors.SyntheticModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mounted file offers its cache file as backing (for FUSE passthrough) only once its blob is
 * complete and verified, for raw and tar layers, and the backing holds exactly the file's bytes.
 * Driven through the tree, as a transport would, over an OCI layout on disk (no FUSE, no network).
 */
class ModelMountBackingTest {
  static final String FILE = "/model-00001-of-00002.safetensors";
  @TempDir static Path shared;
  static Path model;
  @TempDir Path tmp;

  @BeforeAll
  static void generate() throws IOException {
    model = shared.resolve("model");
    SyntheticModel.generate(model, new SyntheticModel.Spec(4L << 20, 2, "BF16", 2, 3));
  }

  private static byte[] readAll(ReadOnlyTree.FileReader r) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteBuffer buf = ByteBuffer.allocate(100_000);
    long off = 0;
    int n;
    while ((n = r.read(off, buf.clear())) > 0) {
      out.write(buf.array(), 0, n);
      off += n;
    }
    return out.toByteArray();
  }

  private void backingOnceComplete(boolean tar) throws IOException {
    Path lp = tmp.resolve(tar ? "tar" : "raw");
    ModelPusher.push(model, OciLayout.create(Reference.parse("oci:" + lp)), "v1", new PushOptions(tar, 2, null, 0));
    OciLayout src = OciLayout.open(Reference.parse("oci:" + lp));
    ModelArtifact a = ModelReader.read(src, "v1");
    byte[] want = Files.readAllBytes(model.resolve(FILE.substring(1)));
    try (ChunkCache cache = ChunkCache.open(CacheConfig.defaults(tmp.resolve("cache-" + tar)).withChunkSize(64 << 10)
            .withFetchExecutor(Runnable::run).withFetchTimeout(Duration.ofSeconds(10)));
        ModelMount m = new ModelMount(a, src, cache)) {
      ReadOnlyTree.FileReader first = m.open(FILE);
      assertTrue(first.backing().isEmpty(), "nothing cached: no backing file");
      assertTrue(!first.contentFinal(), "not verified yet: no page cache kept across opens");
      first.read(0, ByteBuffer.allocate(1000));
      assertTrue(first.backing().isEmpty(), "partly cached: no backing file");
      assertArrayEquals(want, readAll(first));
      first.close();
      ReadOnlyTree.FileReader again = m.open(FILE);
      assertTrue(again.contentFinal());
      BackingFile b = again.backing().orElseThrow();
      assertEquals(want.length, b.length());
      assertArrayEquals(want, Files.readAllBytes(b.path()), "the backing file is the file, byte for byte");
      assertEquals(want.length, cache.pinnedBytes());
      b.close();
      b.close();
      assertEquals(0, cache.pinnedBytes());
      again.close();
    }
  }

  @Test
  void rawLayerFileIsBackedByItsCacheFileOnceComplete() throws IOException {
    backingOnceComplete(false);
  }

  @Test
  void tarMemberIsBackedByItsCacheFileOnceComplete() throws IOException {
    backingOnceComplete(true);
  }
}
