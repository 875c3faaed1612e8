package io.modelcache.trust;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECKey;
import java.security.interfaces.RSAKey;

/**
 * The signature schemes cosign uses, on the JDK's providers: ECDSA P-256 over SHA-256 (ASN.1 DER
 * signatures), Ed25519 (pure, over the message), RSA PKCS#1 v1.5 over SHA-256. Also DSSE's
 * pre-authentication encoding.
 */
public final class Signatures {
  private Signatures() {}

  static String algorithm(java.security.Key k) {
    if (k instanceof ECKey) {
      return "SHA256withECDSA";
    }
    if (k instanceof RSAKey) {
      return "SHA256withRSA";
    }
    return "Ed25519";
  }

  /** True when {@code sig} is {@code key}'s signature over {@code message}; false for any malformed input. */
  public static boolean verifies(PublicKey key, byte[] message, byte[] sig) {
    try {
      Signature s = Signature.getInstance(algorithm(key));
      s.initVerify(key);
      s.update(message);
      return s.verify(sig);
    } catch (GeneralSecurityException | RuntimeException malformed) {
      return false;
    }
  }

  /**
   * True when {@code sig} is {@code key}'s signature over a message whose SHA-256 is {@code sha256}
   * (a bundle's messageDigest), without the message. Ed25519 signs the message itself, so it cannot.
   */
  public static boolean verifiesDigest(PublicKey key, byte[] sha256, byte[] sig) {
    try {
      Signature s;
      byte[] input = sha256;
      if (key instanceof ECKey) {
        s = Signature.getInstance("NONEwithECDSA");
      } else if (key instanceof RSAKey) {
        s = Signature.getInstance("NONEwithRSA");
        input = concat(SHA256_DIGEST_INFO, sha256); // PKCS#1 v1.5 signs DigestInfo(sha256, hash)
      } else {
        return false;
      }
      s.initVerify(key);
      s.update(input);
      return s.verify(sig);
    } catch (GeneralSecurityException | RuntimeException malformed) {
      return false;
    }
  }

  /** Signs {@code message} with {@code key} in cosign's scheme for that key type. */
  public static byte[] sign(PrivateKey key, byte[] message) throws GeneralSecurityException {
    Signature s = Signature.getInstance(algorithm(key));
    s.initSign(key);
    s.update(message);
    return s.sign();
  }

  /** DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
  public static byte[] pae(String payloadType, byte[] payload) {
    byte[] type = payloadType.getBytes(StandardCharsets.UTF_8);
    byte[] head = ("DSSEv1 " + type.length + " " + payloadType + " " + payload.length + " ").getBytes(StandardCharsets.UTF_8);
    return concat(head, payload);
  }

  private static final byte[] SHA256_DIGEST_INFO = java.util.HexFormat.of().parseHex("3031300d060960864801650304020105000420");

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = new byte[a.length + b.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
