package io.modelcache.trust;

/**
 * The policy's answer for one manifest digest: admitted or not, the state shown by {@code status} and
 * {@code ls} ({@code verified by release.pub}, {@code not checked (policy none)}), and, when refused, why.
 */
public record TrustVerdict(boolean admitted, String state, String reason) {
  static TrustVerdict admit(String state) {
    return new TrustVerdict(true, state, null);
  }

  static TrustVerdict refuse(String reason) {
    return new TrustVerdict(false, "refused: " + reason, reason);
  }
}
