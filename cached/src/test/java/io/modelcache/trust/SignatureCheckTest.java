package io.modelcache.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import io.modelcache.testkit.CosignSpec;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The verdict over signatures built by hand from the cosign and sigstore specifications. */
class SignatureCheckTest {
  static final byte[] MANIFEST = "{\"schemaVersion\":2,\"layers\":[]}".getBytes(StandardCharsets.UTF_8);
  static final Digest SUBJECT = Digest.of(MANIFEST);
  static final String OTHER = "sha256:" + "ab".repeat(32);

  final KeyPair release;
  final KeyPair stranger;
  final TrustRule rule;

  SignatureCheckTest() throws Exception {
    release = CosignSpec.p256();
    stranger = CosignSpec.p256();
    rule = new TrustRule("registry.example.com/models", Require.SIGSTORE,
        List.of(new TrustedKey("release.pub", TrustedKey.parse(CosignSpec.publicPem(release.getPublic())))));
  }

  private FoundSignature tag(KeyPair k, String digest) throws Exception {
    byte[] payload = CosignSpec.payload("registry.example.com/models/m", digest);
    return new FoundSignature.Tag(payload, CosignSpec.sign(k.getPrivate(), payload));
  }

  private TrustVerdict check(FoundSignature... found) {
    return SignatureCheck.check(rule, SUBJECT, MANIFEST, List.of(found));
  }

  @Test
  void tagSignatureByTrustedKeyOverThisDigestIsAdmitted() throws Exception {
    TrustVerdict v = check(tag(stranger, SUBJECT.toString()), tag(release, SUBJECT.toString()));
    assertTrue(v.admitted());
    assertEquals("verified by release.pub (cosign signature tag)", v.state());
  }

  @Test
  void refusalsSayWhy() throws Exception {
    assertEquals(TrustVerdict.refuse("no signature"), check());
    assertEquals(TrustVerdict.refuse("no signature by a trusted key (1 signature checked against release.pub)"),
        check(tag(stranger, SUBJECT.toString())));
    assertEquals(TrustVerdict.refuse("signed digest differs (the signature by release.pub names " + OTHER + ")"),
        check(tag(release, OTHER)));
    // A trusted key's signature over this digest wins over one over another digest.
    assertTrue(check(tag(release, OTHER), tag(release, SUBJECT.toString())).admitted());
  }

  @Test
  void tamperedPayloadOrSignatureDoesNotVerify() throws Exception {
    byte[] payload = CosignSpec.payload("registry.example.com/models/m", SUBJECT.toString());
    byte[] sig = CosignSpec.sign(release.getPrivate(), payload);
    byte[] changed = payload.clone();
    changed[changed.length - 3] ^= 1;
    assertFalse(check(new FoundSignature.Tag(changed, sig)).admitted());
    byte[] badSig = sig.clone();
    badSig[badSig.length - 1] ^= 1;
    assertFalse(check(new FoundSignature.Tag(payload, badSig)).admitted());
    assertFalse(check(new FoundSignature.Tag(payload, new byte[0])).admitted());
  }

  @Test
  void payloadOfAnotherTypeIsNotAnImageSignature() throws Exception {
    byte[] payload = ("{\"critical\":{\"image\":{\"docker-manifest-digest\":\"" + SUBJECT + "\"},\"type\":\"something else\"}}")
        .getBytes(StandardCharsets.UTF_8);
    TrustVerdict v = check(new FoundSignature.Tag(payload, CosignSpec.sign(release.getPrivate(), payload)));
    assertEquals(TrustVerdict.refuse("signed digest differs (the signature by release.pub names no digest)"), v);
  }

  @Test
  void sigstoreBundles() throws Exception {
    TrustVerdict dsse = check(new FoundSignature.Bundle(CosignSpec.dsseBundle(release.getPrivate(), release.getPublic(), "m", SUBJECT.toString())));
    assertEquals(TrustVerdict.admit("verified by release.pub (sigstore bundle (DSSE))"), dsse);
    assertEquals(TrustVerdict.refuse("signed digest differs (the signature by release.pub names " + OTHER + ")"),
        check(new FoundSignature.Bundle(CosignSpec.dsseBundle(release.getPrivate(), release.getPublic(), "m", OTHER))));
    assertFalse(check(new FoundSignature.Bundle(CosignSpec.dsseBundle(stranger.getPrivate(), stranger.getPublic(), "m", SUBJECT.toString()))).admitted());

    TrustVerdict msg = check(new FoundSignature.Bundle(CosignSpec.messageBundle(release.getPrivate(), MANIFEST)));
    assertEquals(TrustVerdict.admit("verified by release.pub (sigstore bundle (message signature))"), msg);
    byte[] other = "{\"schemaVersion\":2}".getBytes(StandardCharsets.UTF_8);
    assertEquals(TrustVerdict.refuse("signed digest differs (the signature by release.pub names " + Digest.of(other) + ")"),
        check(new FoundSignature.Bundle(CosignSpec.messageBundle(release.getPrivate(), other))));
    assertFalse(check(new FoundSignature.Bundle("not json".getBytes(StandardCharsets.UTF_8))).admitted());
  }

  @Test
  void ed25519AndRsaKeys() throws Exception {
    for (String alg : List.of("Ed25519", "RSA")) {
      KeyPairGenerator g = KeyPairGenerator.getInstance(alg);
      if (alg.equals("RSA")) {
        g.initialize(2048);
      }
      KeyPair k = g.generateKeyPair();
      TrustRule r = new TrustRule("*", Require.SIGSTORE,
          List.of(new TrustedKey(alg + ".pub", TrustedKey.parse(CosignSpec.publicPem(k.getPublic())))));
      assertEquals(TrustVerdict.admit("verified by " + alg + ".pub (cosign signature tag)"),
          SignatureCheck.check(r, SUBJECT, MANIFEST, List.of(tag(k, SUBJECT.toString()))));
      assertFalse(SignatureCheck.check(r, SUBJECT, MANIFEST, List.of(tag(release, SUBJECT.toString()))).admitted());
    }
  }

  @Test
  void noneAndRejectRules() {
    assertEquals(TrustVerdict.admit("not checked (policy none)"), SignatureCheck.check(TrustRule.DEFAULT, SUBJECT, MANIFEST, List.of()));
    TrustRule reject = new TrustRule("quay.io", Require.REJECT, List.of());
    assertEquals(TrustVerdict.refuse("trust scope 'quay.io' rejects every model"), SignatureCheck.check(reject, SUBJECT, MANIFEST, List.of()));
  }

  @Test
  void paeIsDsseV1() {
    assertEquals("DSSEv1 29 http://example.com/HelloWorld 11 hello world",
        new String(Signatures.pae("http://example.com/HelloWorld", "hello world".getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8));
  }
}
