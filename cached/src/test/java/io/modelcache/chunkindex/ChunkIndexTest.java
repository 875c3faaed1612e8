package io.modelcache.chunkindex;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.cache.ChunkDigests;
import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import io.modelcache.oci.MediaTypes;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ChunkIndexTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final int CS = 4096;
  final byte[] a = bytes(3 * CS + 100, 1);
  final byte[] b = bytes(CS, 2);
  final Digest la = Digest.of(a);
  final Digest lb = Digest.of(b);
  final Descriptor subject = new Descriptor(MediaTypes.OCI_MANIFEST, Digest.of("manifest".getBytes(StandardCharsets.UTF_8)), 8);

  static byte[] bytes(int n, long seed) {
    byte[] x = new byte[n];
    new Random(seed).nextBytes(x);
    return x;
  }

  static ChunkDigests hashed(byte[] content, int cs) {
    ChunkHasher h = new ChunkHasher(0, content.length, cs);
    h.update(0, content, 0, content.length);
    return h.finish();
  }

  ChunkIndex index(String firstPath) {
    return new ChunkIndex(subject, List.of(la, lb), CS, List.of(
        new ChunkIndex.FileEntry(firstPath, la, 0, hashed(a, CS)),
        new ChunkIndex.FileEntry("b.json", lb, 0, hashed(b, CS))));
  }

  @Test
  void hashesEachChunkOfTheContentWhereverItSitsInTheStream() {
    byte[] header = bytes(512, 3);
    byte[] stream = new byte[512 + a.length + 300];
    System.arraycopy(header, 0, stream, 0, 512);
    System.arraycopy(a, 0, stream, 512, a.length);
    ChunkHasher h = new ChunkHasher(512, a.length, CS);
    Random r = new Random(4);
    for (int pos = 0; pos < stream.length; ) {
      int n = Math.min(stream.length - pos, 1 + r.nextInt(5000));
      h.update(pos, stream, pos, n);
      pos += n;
    }
    ChunkDigests d = h.finish();
    assertEquals(4, d.granules());
    for (int g = 0; g < 4; g++) {
      byte[] part = Arrays.copyOfRange(a, g * CS, Math.min(a.length, (g + 1) * CS));
      assertArrayEquals(Digest.sha256().digest(part), d.digest(g), "chunk " + g);
    }
    ChunkHasher partial = new ChunkHasher(0, 10, CS);
    partial.update(0, a, 0, 5);
    assertThrows(IllegalStateException.class, partial::finish);
  }

  @Test
  void canonicalJsonRoundTrips() throws Exception {
    ChunkIndex i = index("a.safetensors");
    byte[] json = i.toJson();
    ChunkIndex back = ChunkIndex.parse(json, "test");
    assertArrayEquals(json, back.toJson());
    assertEquals(i, back);
    JsonNode n = JSON.readTree(json);
    assertEquals(ChunkIndex.MEDIA_TYPE, n.path("mediaType").asText());
    assertEquals(subject.digest().toString(), n.path("manifest").path("digest").asText());
    assertEquals(List.of("a.safetensors", "b.json"), n.path("files").findValuesAsText("path"));
    assertEquals(4, n.path("files").path(0).path("sha256").size());
    assertTrue(new String(json, StandardCharsets.UTF_8).indexOf(' ') < 0, "no whitespace");
    ChunkIndex reordered = new ChunkIndex(subject, List.of(la, lb), CS, List.of(i.files().get(1), i.files().get(0)));
    assertArrayEquals(json, reordered.toJson(), "file order does not change the bytes");
  }

  @Test
  void malformedIndexesFailWithOneLine() throws Exception {
    String good = new String(index("a.safetensors").toJson(), StandardCharsets.UTF_8);
    Map<String, String> cases = Map.of(
        good.replace(ChunkIndex.MEDIA_TYPE, "application/json"), "mediaType is not " + ChunkIndex.MEDIA_TYPE,
        good.replace("\"chunkSize\":4096", "\"chunkSize\":5000"), "chunkSize 5000 is not a power of two from 4 KiB to 1 GiB",
        good.replace("\"size\":12388", "\"size\":99999"), "file a.safetensors has 4 chunk digests, 25 expected",
        "[1]", "not a JSON object",
        "{", "not JSON");
    for (var e : cases.entrySet()) {
      ModelCacheException ex = assertThrows(ModelCacheException.class,
          () -> ChunkIndex.parse(e.getKey().getBytes(StandardCharsets.UTF_8), "chunk index X"));
      assertEquals("chunk index X: malformed chunk index: " + e.getValue(), ex.getMessage());
      assertEquals(ModelCacheException.Kind.INVALID_ARTIFACT, ex.kind());
    }
    String badHex = good.replaceFirst("\"sha256\":\\[\"[0-9a-f]{64}", "\"sha256\":[\"" + "G".repeat(64));
    assertTrue(assertThrows(ModelCacheException.class, () -> ChunkIndex.parse(badHex.getBytes(StandardCharsets.UTF_8), "x"))
        .getMessage().endsWith("file a.safetensors chunk 0 has an invalid sha256 '" + "G".repeat(64) + "'"));
  }

  @Test
  void acceptedOnlyForTheManifestAndLayoutItNames() throws Exception {
    ChunkIndex i = index("a.safetensors");
    List<ChunkIndex.FileRef> files = List.of(new ChunkIndex.FileRef("a.safetensors", la, 0, a.length),
        new ChunkIndex.FileRef("b.json", lb, 0, b.length));
    Map<String, ChunkDigests> ok = i.acceptFor(subject.digest(), List.of(la, lb), files);
    assertEquals(hashed(a, CS), ok.get("a.safetensors"));
    String what = "chunk index for " + subject.digest();
    Digest other = Digest.of(new byte[1]);
    assertEquals("chunk index for " + other + " names manifest " + subject.digest(),
        assertThrows(ModelCacheException.class, () -> i.acceptFor(other, List.of(la, lb), files)).getMessage());
    assertEquals(what + " names other layers than the manifest",
        assertThrows(ModelCacheException.class, () -> i.acceptFor(subject.digest(), List.of(lb, la), files)).getMessage());
    assertEquals(what + " places file b.json elsewhere than the manifest", assertThrows(ModelCacheException.class,
        () -> i.acceptFor(subject.digest(), List.of(la, lb), List.of(files.get(0),
            new ChunkIndex.FileRef("b.json", lb, 512, b.length)))).getMessage());
    assertEquals(what + " does not list file c.json", assertThrows(ModelCacheException.class,
        () -> i.acceptFor(subject.digest(), List.of(la, lb), List.of(files.get(0),
            new ChunkIndex.FileRef("c.json", lb, 0, b.length)))).getMessage());
    assertEquals(ModelCacheException.Kind.DIGEST_MISMATCH, assertThrows(ModelCacheException.class,
        () -> i.acceptFor(other, List.of(la, lb), files)).kind());
  }

  @Test
  void storedAsAnArtifactWhoseSubjectIsTheModel() throws Exception {
    Digest blob = Digest.of(index("a.safetensors").toJson());
    byte[] m = IndexArtifact.manifest(subject, blob, 1234);
    JsonNode n = JSON.readTree(m);
    assertEquals(ChunkIndex.MEDIA_TYPE, n.path("artifactType").asText());
    assertEquals(MediaTypes.OCI_MANIFEST, n.path("mediaType").asText());
    assertEquals(MediaTypes.OCI_EMPTY, n.path("config").path("mediaType").asText());
    assertEquals("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        n.path("config").path("digest").asText());
    assertEquals(subject.digest().toString(), n.path("subject").path("digest").asText());
    assertEquals(new Descriptor(ChunkIndex.MEDIA_TYPE, blob, 1234), IndexArtifact.indexBlob(m, subject.digest()));
    Digest other = Digest.of(new byte[2]);
    assertEquals("chunk index manifest names subject " + subject.digest() + ", not " + other,
        assertThrows(ModelCacheException.class, () -> IndexArtifact.indexBlob(m, other)).getMessage());
    assertEquals("sha256-" + subject.digest().hex(), IndexArtifact.referrersTag(subject.digest()));
  }

  @Test
  void theReferrersTagKeepsOtherReferrersAndOneChunkIndex() throws Exception {
    Digest sig = Digest.of(new byte[3]);
    String foreign = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":[{\"mediaType\":\""
        + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + sig + "\",\"size\":10,"
        + "\"artifactType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}]}";
    Digest first = Digest.of(new byte[4]);
    Digest second = Digest.of(new byte[5]);
    byte[] one = IndexArtifact.withReferrer(foreign.getBytes(StandardCharsets.UTF_8),
        new Descriptor(MediaTypes.OCI_MANIFEST, first, 100));
    byte[] two = IndexArtifact.withReferrer(one, new Descriptor(MediaTypes.OCI_MANIFEST, second, 100));
    JsonNode n = JSON.readTree(two);
    assertEquals(MediaTypes.OCI_INDEX, n.path("mediaType").asText());
    assertEquals(List.of(sig.toString(), second.toString()), n.path("manifests").findValuesAsText("digest"));
    assertEquals(List.of(second), IndexArtifact.listed(two));
    assertNotNull(IndexArtifact.withReferrer(null, new Descriptor(MediaTypes.OCI_MANIFEST, first, 1)));
    assertEquals(List.of(first), IndexArtifact.listed(IndexArtifact.withReferrer(null,
        new Descriptor(MediaTypes.OCI_MANIFEST, first, 1))));
  }
}
