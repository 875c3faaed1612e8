package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.layout.OciLayout;
import io.modelcache.oci.Reference;
import io.modelcache.safetensors.SafetensorsHeader;
import io.modelcache.safetensors.SyntheticModel;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AlignTest {
  @TempDir Path tmp;

  static byte[] blob(OciLayout l, ModelFile f) throws Exception {
    try (InputStream in = l.openBlob(f.layer().digest(), 0, -1)) {
      return in.readAllBytes();
    }
  }

  @Test
  void alignedPushPadsHeadersToAPageAndKeepsEveryTensor() throws Exception {
    Path model = tmp.resolve("model");
    SyntheticModel.generate(model, new SyntheticModel.Spec(4L << 20, 2, "BF16", 2, 3));
    byte[] junk = "not a safetensors file at all".getBytes();
    Files.write(model.resolve("junk.safetensors"), junk);
    for (boolean tar : List.of(false, true)) {
      Path plainDir = tmp.resolve("plain" + tar);
      Path alignedDir = tmp.resolve("aligned" + tar);
      OciLayout plain = OciLayout.create(Reference.parse("oci:" + plainDir));
      OciLayout aligned = OciLayout.create(Reference.parse("oci:" + alignedDir));
      ModelPusher.push(model, plain, "v1", new PushOptions(tar, 2, null, 0), PushPullTest.CLOCK);
      ModelPusher.push(model, aligned, "v1", new PushOptions(tar, 2, null, 4096), PushPullTest.CLOCK);
      ModelArtifact a = ModelReader.read(OciLayout.open(Reference.parse("oci:" + alignedDir)), "v1");
      ModelArtifact p = ModelReader.read(OciLayout.open(Reference.parse("oci:" + plainDir)), "v1");
      OciLayout ar = OciLayout.open(Reference.parse("oci:" + alignedDir));
      OciLayout pr = OciLayout.open(Reference.parse("oci:" + plainDir));
      int shards = 0;
      for (int i = 0; i < a.files().size(); i++) {
        ModelFile af = a.files().get(i);
        ModelFile pf = p.files().get(i);
        assertEquals(pf.path(), af.path());
        byte[] ab = Arrays.copyOfRange(blob(ar, af), (int) af.contentOffset(), (int) (af.contentOffset() + af.size()));
        byte[] pb = Arrays.copyOfRange(blob(pr, pf), (int) pf.contentOffset(), (int) (pf.contentOffset() + pf.size()));
        assertArrayEquals(Files.readAllBytes(model.resolve(pf.path())), pb);
        if (!pf.path().startsWith("model-")) {
          assertArrayEquals(pb, ab, pf.path() + " is not a parsed safetensors file: unchanged");
          continue;
        }
        shards++;
        assertNotEquals(pf.layer().digest(), af.layer().digest());
        SafetensorsHeader ah = SafetensorsHeader.parse(ab);
        SafetensorsHeader ph = SafetensorsHeader.parse(pb);
        assertEquals(0, ah.dataStart() % 4096, pf.path());
        assertEquals(ab.length, af.size());
        assertEquals(pb.length + (ah.dataStart() - ph.dataStart()), ab.length);
        assertEquals(ph.metadata(), ah.metadata());
        assertEquals(ph.tensors().size(), ah.tensors().size());
        for (SafetensorsHeader.Tensor t : ph.tensors()) {
          SafetensorsHeader.Tensor u = ah.tensor(t.name());
          assertEquals(t.dtype(), u.dtype());
          assertEquals(t.shape(), u.shape());
          assertEquals(t.begin(), u.begin());
          assertArrayEquals(Arrays.copyOfRange(pb, (int) t.fileBegin(), (int) t.fileEnd()),
              Arrays.copyOfRange(ab, (int) u.fileBegin(), (int) u.fileEnd()), t.name());
        }
        // the padding is spaces at the end of the JSON
        for (long k = ph.dataStart(); k < ah.dataStart(); k++) {
          assertEquals(' ', ab[(int) k]);
        }
      }
      assertEquals(2, shards);
    }
  }

  @Test
  void planLeavesUnparseableAndAlignedFilesAlone() throws Exception {
    Path f = tmp.resolve("x.safetensors");
    Files.write(f, new byte[] {1, 2, 3});
    assertNull(SafetensorsAlign.plan(f, 3, 4096));
    byte[] json = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}".getBytes();
    int n = 4096 - 8;
    byte[] file = new byte[8 + n + 4];
    java.nio.ByteBuffer.wrap(file).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(n);
    Arrays.fill(file, 8, 8 + n, (byte) ' ');
    System.arraycopy(json, 0, file, 8, json.length);
    Files.write(f, file);
    assertNull(SafetensorsAlign.plan(f, file.length, 4096), "already aligned");
    SafetensorsAlign.Aligned a = SafetensorsAlign.plan(f, file.length, 8192);
    assertEquals(4096, a.padding());
    try (InputStream in = a.open(f)) {
      byte[] out = in.readAllBytes();
      assertEquals(8192, SafetensorsHeader.parse(out).dataStart());
      assertTrue(Arrays.equals(Arrays.copyOfRange(file, 4096, file.length), Arrays.copyOfRange(out, 8192, out.length)));
    }
  }
}
