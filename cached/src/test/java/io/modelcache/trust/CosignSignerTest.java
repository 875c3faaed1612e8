package io.modelcache.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import io.modelcache.layout.OciLayout;
import io.modelcache.modelpack.ModelPusher;
import io.modelcache.modelpack.PushOptions;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.safetensors.SyntheticModel;
import io.modelcache.testkit.CosignSpec;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sign, then find and check, on a real OCI layout on disk; the tests' own verifier agrees. */
class CosignSignerTest {
  @TempDir Path tmp;

  @Test
  void brokenSignatureMaterialCountsAsNoSignature() throws Exception {
    SyntheticModel.generate(tmp.resolve("m"), new SyntheticModel.Spec(64 << 10, 1, "BF16", 8, 4));
    Reference ref = Reference.parse("oci:" + tmp.resolve("layout") + ":v1");
    TrustPolicy policy = new TrustPolicy(List.of(new TrustRule("*", Require.SIGSTORE,
        List.of(new TrustedKey("cosign.pub", TrustedKey.parse(CosignSpec.publicPem(CosignSpec.p256().getPublic())))))));
    try (OciLayout layout = OciLayout.create(ref)) {
      Digest d = ModelPusher.push(tmp.resolve("m"), layout, "v1", new PushOptions(false, 1, "m"));
      // A signature tag whose payload blob was never uploaded, and a referrers tag that is not JSON.
      String missing = "sha256:" + "0".repeat(64);
      layout.putManifest("sha256-" + d.hex() + ".sig", ("{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\""
          + SimpleSigning.MEDIA_TYPE + "\",\"digest\":\"" + missing + "\",\"size\":3,\"annotations\":{\""
          + SimpleSigning.SIGNATURE_ANNOTATION + "\":\"AAAA\"}}]}").getBytes(java.nio.charset.StandardCharsets.UTF_8),
          "application/vnd.oci.image.manifest.v1+json");
      layout.putManifest("sha256-" + d.hex(), "not json".getBytes(java.nio.charset.StandardCharsets.UTF_8),
          "application/vnd.oci.image.index.v1+json");
      assertEquals(List.of(), SignatureFinder.find(layout, d));
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> TrustGate.admit(layout, ref, "v1", "m", policy));
      assertEquals("m (" + d + "): not trusted: no signature", e.getMessage());
    }
  }

  @Test
  void signedLayoutModelIsAdmittedAndIndependentlyValid() throws Exception {
    SyntheticModel.generate(tmp.resolve("m"), new SyntheticModel.Spec(64 << 10, 1, "BF16", 8, 3));
    Reference ref = Reference.parse("oci:" + tmp.resolve("layout") + ":v1");
    KeyPair k = CosignSpec.p256();
    TrustPolicy policy = new TrustPolicy(List.of(new TrustRule("*", Require.SIGSTORE,
        List.of(new TrustedKey("cosign.pub", TrustedKey.parse(CosignSpec.publicPem(k.getPublic())))))));
    Digest d;
    try (OciLayout layout = OciLayout.create(ref)) {
      d = ModelPusher.push(tmp.resolve("m"), layout, "v1", new PushOptions(false, 1, "m"));
    }
    try (OciLayout layout = OciLayout.open(ref)) {
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> TrustGate.admit(layout, ref, "v1", "the-ref", policy));
      assertEquals("the-ref (" + d + "): not trusted: no signature", e.getMessage());
      assertEquals(ModelCacheException.Kind.UNTRUSTED, e.kind());
      CosignSigner.Signed s = CosignSigner.sign(layout, "v1", k.getPrivate());
      assertEquals(d, s.digest());
      assertEquals("sha256-" + d.hex() + ".sig", s.tag());
      // Another signer's signature is added beside the first, as cosign appends.
      CosignSigner.sign(layout, "v1", CosignSpec.p256().getPrivate());
      assertEquals(2, SignatureFinder.find(layout, d).size());
      TrustGate.Admission a = TrustGate.admit(layout, ref, "v1", "the-ref", policy);
      assertEquals(d.toString(), a.digest());
      assertEquals("verified by cosign.pub (cosign signature tag)", a.state());
      assertTrue(CosignSpec.tagSignatureValid(new CosignSpec.Blobs() {
        @Override
        public byte[] manifest(String tag) throws Exception {
          return layout.fetchManifest(tag).bytes();
        }

        @Override
        public byte[] blob(String digest) throws Exception {
          return layout.fetchBlob(Digest.parse(digest), 1 << 20);
        }
      }, d.toString(), k.getPublic()));
    }
  }
}
