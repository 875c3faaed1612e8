package io.modelcache.trust;

import io.modelcache.error.ModelCacheException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/**
 * A public key trusted to sign models, named by its file for messages ({@code verified by release.pub}).
 * ECDSA P-256, Ed25519 and RSA, as PEM {@code PUBLIC KEY} (what {@code cosign generate-key-pair} writes
 * to {@code cosign.pub}).
 */
public record TrustedKey(String name, PublicKey key) {
  static final String[] ALGORITHMS = {"EC", "Ed25519", "RSA"};

  /** Reads a PEM public key file; fails with one line naming the file. */
  public static TrustedKey read(Path file) throws ModelCacheException {
    String pem;
    try {
      pem = Files.readString(file, StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "cannot read key " + file + ": "
          + (e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage()));
    }
    try {
      return new TrustedKey(file.getFileName().toString(), parse(pem));
    } catch (IllegalArgumentException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "key " + file + ": " + e.getMessage());
    }
  }

  /** A PEM {@code PUBLIC KEY} block as a JDK key. */
  public static PublicKey parse(String pem) {
    byte[] der = Pem.decode(pem, "PUBLIC KEY");
    for (String alg : ALGORITHMS) {
      try {
        PublicKey k = KeyFactory.getInstance(alg).generatePublic(new X509EncodedKeySpec(der));
        if (k instanceof java.security.interfaces.ECPublicKey ec && ec.getParams().getCurve().getField().getFieldSize() != 256) {
          throw new IllegalArgumentException("only P-256 EC keys are supported");
        }
        return k;
      } catch (java.security.spec.InvalidKeySpecException | java.security.NoSuchAlgorithmException notThisOne) {
        // try the next algorithm
      }
    }
    throw new IllegalArgumentException("not an ECDSA P-256, Ed25519 or RSA public key");
  }

  /** The PEM text of a public key, as cosign writes {@code cosign.pub}. */
  public static String pem(PublicKey k) {
    return Pem.encode("PUBLIC KEY", k.getEncoded());
  }

  /** PEM armour: base64 between BEGIN/END lines. */
  static final class Pem {
    private Pem() {}

    static byte[] decode(String pem, String type) {
      String begin = "-----BEGIN " + type + "-----";
      String end = "-----END " + type + "-----";
      int b = pem.indexOf(begin);
      int e = pem.indexOf(end);
      if (b < 0 || e < b) {
        throw new IllegalArgumentException("no PEM '" + type + "' block");
      }
      try {
        return Base64.getMimeDecoder().decode(pem.substring(b + begin.length(), e));
      } catch (IllegalArgumentException bad) {
        throw new IllegalArgumentException("PEM '" + type + "' block is not valid base64");
      }
    }

    static String encode(String type, byte[] der) {
      return "-----BEGIN " + type + "-----\n"
          + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
          + "\n-----END " + type + "-----\n";
    }
  }
}
