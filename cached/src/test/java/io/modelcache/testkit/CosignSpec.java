package io.modelcache.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import java.util.HexFormat;
import org.bouncycastle.crypto.engines.XSalsa20Engine;
import org.bouncycastle.crypto.generators.SCrypt;
import org.bouncycastle.crypto.macs.Poly1305;
import org.bouncycastle.crypto.params.KeyParameter;
import org.bouncycastle.crypto.params.ParametersWithIV;

/**
 * cosign's formats built by the tests from the specifications, independently of
 * {@code io.modelcache.trust} (which the tests check against these): key files as
 * {@code cosign generate-key-pair} writes them (scrypt + NaCl secretbox around PKCS#8, in a PEM block),
 * simple-signing payloads and signature manifests (cosign SIGNATURE_SPEC.md), sigstore bundles with a
 * DSSE envelope (sigstore bundle v0.3, DSSE v1), and a verifier of the tag form.
 * The JSON is written as text, as the specifications show it.
 */
public final class CosignSpec {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Base64.Encoder B64 = Base64.getEncoder();

  private CosignSpec() {}

  public static KeyPair p256() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    return g.generateKeyPair();
  }

  /** {@code cosign.pub}: PEM "PUBLIC KEY" around the X.509 SubjectPublicKeyInfo. */
  public static String publicPem(PublicKey k) {
    return pem("PUBLIC KEY", k.getEncoded());
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }

  /**
   * {@code cosign.key}: the PKCS#8 DER key sealed with NaCl secretbox under scrypt(passphrase, salt,
   * N=32768, r=8, p=1, 32 bytes), as JSON {kdf, cipher, ciphertext} in base64 inside a PEM block.
   */
  public static String encryptedKeyFile(PrivateKey k, String passphrase, String pemType) {
    SecureRandom rnd = new SecureRandom();
    byte[] salt = new byte[32];
    byte[] nonce = new byte[24];
    rnd.nextBytes(salt);
    rnd.nextBytes(nonce);
    return pem(pemType, envelope(k.getEncoded(), passphrase, salt, nonce, 32768).getBytes(StandardCharsets.UTF_8));
  }

  /** The JSON envelope for given salt and nonce (deterministic, for known-answer checks of the builder itself). */
  public static String envelope(byte[] plain, String passphrase, byte[] salt, byte[] nonce, int n) {
    byte[] key = SCrypt.generate(passphrase.getBytes(StandardCharsets.UTF_8), salt, n, 8, 1, 32);
    return "{\"kdf\":{\"name\":\"scrypt\",\"params\":{\"N\":" + n + ",\"r\":8,\"p\":1},\"salt\":\"" + B64.encodeToString(salt)
        + "\"},\"cipher\":{\"name\":\"nacl/secretbox\",\"nonce\":\"" + B64.encodeToString(nonce)
        + "\"},\"ciphertext\":\"" + B64.encodeToString(secretboxSeal(plain, nonce, key)) + "\"}";
  }

  /**
   * crypto_secretbox (NaCl): XSalsa20 stream s; Poly1305 key = s[0..32); c = m XOR s[32..);
   * output = Poly1305(c) || c (the 16-byte tag first, as Go's secretbox.Seal writes it).
   */
  public static byte[] secretboxSeal(byte[] m, byte[] nonce, byte[] key) {
    XSalsa20Engine x = new XSalsa20Engine();
    x.init(true, new ParametersWithIV(new KeyParameter(key), nonce));
    byte[] stream = new byte[32 + m.length];
    x.processBytes(new byte[stream.length], 0, stream.length, stream, 0);
    byte[] c = new byte[m.length];
    for (int i = 0; i < m.length; i++) {
      c[i] = (byte) (m[i] ^ stream[32 + i]);
    }
    Poly1305 mac = new Poly1305();
    mac.init(new KeyParameter(java.util.Arrays.copyOf(stream, 32)));
    mac.update(c, 0, c.length);
    byte[] out = new byte[16 + c.length];
    mac.doFinal(out, 0);
    System.arraycopy(c, 0, out, 16, c.length);
    return out;
  }

  /** The simple-signing payload of SIGNATURE_SPEC.md naming {@code digest} ("sha256:..."). */
  public static byte[] payload(String dockerReference, String digest) {
    return ("{\"critical\":{\"identity\":{\"docker-reference\":\"" + dockerReference + "\"},\"image\":{\"docker-manifest-digest\":\""
        + digest + "\"},\"type\":\"cosign container image signature\"},\"optional\":{\"creator\":\"test\"}}")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** ECDSA P-256 / SHA-256, ASN.1 DER: cosign's signature over the payload's bytes. */
  public static byte[] sign(PrivateKey k, byte[] message) throws Exception {
    Signature s = Signature.getInstance(k.getAlgorithm().equals("EC") ? "SHA256withECDSA"
        : k.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "Ed25519");
    s.initSign(k);
    s.update(message);
    return s.sign();
  }

  public static String sha256(byte[] b) throws Exception {
    return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }

  /** The manifest stored at {@code sha256-<hex>.sig}: one simple-signing layer per signature. */
  public static String signatureManifest(String configDigest, int configSize, byte[] payload, byte[] sig) throws Exception {
    return "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":" + configSize + ",\"digest\":\"" + configDigest + "\"},"
        + "\"layers\":[{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"size\":" + payload.length
        + ",\"digest\":\"" + sha256(payload) + "\",\"annotations\":{\"dev.cosignproject.cosign/signature\":\""
        + B64.encodeToString(sig) + "\"}}]}";
  }

  /** DSSE v1 PAE. */
  public static byte[] pae(String type, byte[] body) {
    byte[] head = ("DSSEv1 " + type.length() + " " + type + " " + body.length + " ").getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[head.length + body.length];
    System.arraycopy(head, 0, out, 0, head.length);
    System.arraycopy(body, 0, out, head.length, body.length);
    return out;
  }

  /**
   * A sigstore bundle v0.3 with a DSSE envelope over an in-toto statement v1 naming {@code digest} as
   * its subject (what cosign 3 writes for an image with the new bundle format), signed by {@code k}.
   */
  public static byte[] dsseBundle(PrivateKey k, PublicKey pub, String name, String digest) throws Exception {
    byte[] statement = ("{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"" + name
        + "\",\"digest\":{\"sha256\":\"" + digest.substring(7) + "\"}}],\"predicateType\":\"https://sigstore.dev/cosign/sign/v1\",\"predicate\":{}}")
        .getBytes(StandardCharsets.UTF_8);
    String type = "application/vnd.in-toto+json";
    byte[] sig = sign(k, pae(type, statement));
    String hint = B64.encodeToString(MessageDigest.getInstance("SHA-256").digest(pub.getEncoded()));
    return ("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"verificationMaterial\":{\"publicKey\":{\"hint\":\""
        + hint + "\"},\"tlogEntries\":[]},\"dsseEnvelope\":{\"payload\":\"" + B64.encodeToString(statement)
        + "\",\"payloadType\":\"" + type + "\",\"signatures\":[{\"sig\":\"" + B64.encodeToString(sig) + "\",\"keyid\":\"\"}]}}")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** A sigstore bundle v0.3 with a messageSignature over the manifest's bytes. */
  public static byte[] messageBundle(PrivateKey k, byte[] manifest) throws Exception {
    byte[] dg = MessageDigest.getInstance("SHA-256").digest(manifest);
    return ("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"verificationMaterial\":{\"publicKey\":{\"hint\":\"\"}},"
        + "\"messageSignature\":{\"messageDigest\":{\"algorithm\":\"SHA2_256\",\"digest\":\"" + B64.encodeToString(dg)
        + "\"},\"signature\":\"" + B64.encodeToString(sign(k, manifest)) + "\"}}").getBytes(StandardCharsets.UTF_8);
  }

  /** The referrer manifest of cosign's BUNDLE_SPEC.md pointing at one bundle blob. */
  public static String bundleManifest(byte[] bundle, String subjectDigest, String subjectMediaType, long subjectSize) throws Exception {
    return "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2,"
        + "\"artifactType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
        + "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2},"
        + "\"layers\":[{\"digest\":\"" + sha256(bundle) + "\",\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"size\":"
        + bundle.length + ",\"annotations\":{\"org.opencontainers.image.title\":\"" + sha256(bundle).replace(':', '-') + ".sigstore.json\"}}],"
        + "\"subject\":{\"digest\":\"" + subjectDigest + "\",\"mediaType\":\"" + subjectMediaType + "\",\"size\":" + subjectSize + "}}";
  }

  /** The referrers tag schema's index listing one referrer. */
  public static String referrersIndex(String referrerDigest, int size) {
    return "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{"
        + "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + referrerDigest + "\",\"size\":" + size
        + ",\"artifactType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}]}";
  }

  /** Source of bytes by digest (a registry client in the ITs). */
  public interface Blobs {
    byte[] manifest(String tag) throws Exception;

    byte[] blob(String digest) throws Exception;
  }

  /**
   * An independent check of the tag form: some layer of {@code sha256-<hex>.sig} is a simple-signing
   * payload naming {@code digest}, and its annotation is {@code key}'s valid signature over the payload.
   */
  public static boolean tagSignatureValid(Blobs repo, String digest, PublicKey key) throws Exception {
    JsonNode m = JSON.readTree(repo.manifest("sha256-" + digest.substring(7) + ".sig"));
    for (JsonNode l : m.path("layers")) {
      if (!l.path("mediaType").asText().equals("application/vnd.dev.cosign.simplesigning.v1+json")) {
        continue;
      }
      byte[] payload = repo.blob(l.path("digest").asText());
      byte[] sig = Base64.getDecoder().decode(l.path("annotations").path("dev.cosignproject.cosign/signature").asText());
      Signature s = Signature.getInstance("SHA256withECDSA");
      s.initVerify(key);
      s.update(payload);
      JsonNode p = JSON.readTree(payload).path("critical");
      if (s.verify(sig) && p.path("type").asText().equals("cosign container image signature")
          && p.path("image").path("docker-manifest-digest").asText().equals(digest)) {
        return true;
      }
    }
    return false;
  }
}
