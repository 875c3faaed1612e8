package io.modelcache.trust;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.error.ModelCacheException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import org.bouncycastle.crypto.engines.XSalsa20Engine;
import org.bouncycastle.crypto.generators.SCrypt;
import org.bouncycastle.crypto.macs.Poly1305;
import org.bouncycastle.crypto.params.KeyParameter;
import org.bouncycastle.crypto.params.ParametersWithIV;

/**
 * cosign's private key file ({@code cosign generate-key-pair}): a PEM block
 * {@code ENCRYPTED SIGSTORE PRIVATE KEY} (cosign 2.x) or {@code ENCRYPTED COSIGN PRIVATE KEY} (1.x)
 * whose body is JSON: {@code kdf} scrypt (N, r, p, salt), {@code cipher} nacl/secretbox (24-byte
 * nonce), {@code ciphertext} = Poly1305 tag (16 bytes) then the XSalsa20-encrypted PKCS#8 DER key.
 * The box key is scrypt(passphrase, salt, N, r, p, 32). Pure: no I/O.
 */
public final class CosignPrivateKey {
  static final String[] PEM_TYPES = {"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"};
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Far above cosign's N=32768, below what would take this process's memory (128 * r * N bytes). */
  static final int MAX_N = 1 << 20;

  private CosignPrivateKey() {}

  /** Decrypts the key file's text with the passphrase; every failure is one line naming {@code file}. */
  public static PrivateKey decrypt(String file, String pem, byte[] passphrase) throws ModelCacheException {
    byte[] body = null;
    for (String type : PEM_TYPES) {
      if (pem.contains("-----BEGIN " + type + "-----")) {
        try {
          body = TrustedKey.Pem.decode(pem, type);
        } catch (IllegalArgumentException e) {
          throw bad(file, e.getMessage());
        }
      }
    }
    if (body == null) {
      throw bad(file, "not a cosign private key (expected a PEM block 'ENCRYPTED SIGSTORE PRIVATE KEY')");
    }
    byte[] der = open(file, body, passphrase);
    for (String alg : TrustedKey.ALGORITHMS) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (java.security.GeneralSecurityException notThisOne) {
        // next algorithm
      }
    }
    throw bad(file, "the decrypted key is not an ECDSA, Ed25519 or RSA PKCS#8 key");
  }

  /** Opens the JSON envelope: scrypt, then NaCl secretbox. */
  static byte[] open(String file, byte[] envelope, byte[] passphrase) throws ModelCacheException {
    JsonNode e;
    try {
      e = JSON.readTree(envelope);
    } catch (IOException notJson) {
      throw bad(file, "the key body is not JSON");
    }
    if (e == null || !"scrypt".equals(e.path("kdf").path("name").asText()) || !"nacl/secretbox".equals(e.path("cipher").path("name").asText())) {
      throw bad(file, "unsupported key encryption (expected scrypt and nacl/secretbox)");
    }
    JsonNode p = e.path("kdf").path("params");
    int n = p.path("N").asInt(0);
    int r = p.path("r").asInt(0);
    int par = p.path("p").asInt(0);
    if (n < 2 || n > MAX_N || Integer.bitCount(n) != 1 || r < 1 || r > 32 || par < 1 || par > 16) {
      throw bad(file, "unsupported scrypt parameters N=" + n + " r=" + r + " p=" + par);
    }
    byte[] salt;
    byte[] nonce;
    byte[] box;
    try {
      salt = Base64.getDecoder().decode(e.path("kdf").path("salt").asText(""));
      nonce = Base64.getDecoder().decode(e.path("cipher").path("nonce").asText(""));
      box = Base64.getDecoder().decode(e.path("ciphertext").asText(""));
    } catch (IllegalArgumentException notBase64) {
      throw bad(file, "salt, nonce or ciphertext is not base64");
    }
    if (nonce.length != 24 || box.length < 16) {
      throw bad(file, "malformed secretbox (nonce must be 24 bytes)");
    }
    byte[] key = SCrypt.generate(passphrase, salt, n, r, par, 32);
    byte[] out = secretboxOpen(box, nonce, key);
    if (out == null) {
      throw bad(file, "wrong passphrase (set COSIGN_PASSWORD)");
    }
    return out;
  }

  /** NaCl crypto_secretbox_open: null when the tag does not match. */
  static byte[] secretboxOpen(byte[] box, byte[] nonce, byte[] key) {
    XSalsa20Engine x = new XSalsa20Engine();
    x.init(false, new ParametersWithIV(new KeyParameter(key), nonce));
    byte[] polyKey = new byte[32];
    x.processBytes(new byte[32], 0, 32, polyKey, 0); // the stream's first 32 bytes key Poly1305
    Poly1305 mac = new Poly1305();
    mac.init(new KeyParameter(polyKey));
    mac.update(box, 16, box.length - 16);
    byte[] tag = new byte[16];
    mac.doFinal(tag, 0);
    if (!MessageDigest.isEqual(tag, Arrays.copyOf(box, 16))) {
      return null;
    }
    byte[] plain = new byte[box.length - 16];
    x.processBytes(box, 16, plain.length, plain, 0);
    return plain;
  }

  /** The passphrase as cosign takes it: COSIGN_PASSWORD, empty when unset. */
  public static byte[] passphraseFromEnv() {
    String p = System.getenv("COSIGN_PASSWORD");
    return (p == null ? "" : p).getBytes(StandardCharsets.UTF_8);
  }

  private static ModelCacheException bad(String file, String why) {
    return new ModelCacheException(ModelCacheException.Kind.USAGE, "key " + file + ": " + why);
  }
}
