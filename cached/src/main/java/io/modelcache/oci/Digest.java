package io.modelcache.oci;

import io.modelcache.error.ModelCacheException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** A content digest, {@code sha256:<64 hex>}. Only sha256 is accepted: it is all registries use. */
public record Digest(String hex) {
  private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");

  public Digest {
    if (hex == null || !HEX.matcher(hex).matches()) {
      throw new IllegalArgumentException("not a sha256 hex digest: " + hex);
    }
  }

  /** Parses {@code sha256:<hex>}; throws a user-facing error on anything else. */
  public static Digest parse(String s) throws ModelCacheException {
    if (s == null || !s.startsWith("sha256:") || !HEX.matcher(s.substring(7)).matches()) {
      throw ModelCacheException.invalid("invalid digest '" + s + "' (expected sha256:<64 hex>)");
    }
    return new Digest(s.substring(7));
  }

  public static boolean isValid(String s) {
    return s != null && s.startsWith("sha256:") && HEX.matcher(s.substring(7)).matches();
  }

  public static Digest of(byte[] bytes) {
    return new Digest(HexFormat.of().formatHex(sha256().digest(bytes)));
  }

  public static Digest of(MessageDigest finished) {
    return new Digest(HexFormat.of().formatHex(finished.digest()));
  }

  public static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** First 12 hex characters, for logs and listings. */
  public String shortHex() {
    return hex.substring(0, 12);
  }

  @Override
  public String toString() {
    return "sha256:" + hex;
  }
}
