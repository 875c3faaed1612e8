package io.modelcache.trust;

import io.modelcache.oci.Digest;
import java.util.List;

/**
 * The verdict of a rule over the signatures found for a manifest. Pure: no I/O. A signature counts
 * only when a trusted key verifies it AND its payload names this very digest; a valid signature over
 * another digest (a signature copied from another model) refuses with "signed digest differs".
 */
public final class SignatureCheck {
  private SignatureCheck() {}

  public static TrustVerdict check(TrustRule rule, Digest subject, byte[] manifest, List<FoundSignature> found) {
    switch (rule.require()) {
      case NONE -> {
        return TrustVerdict.admit("not checked (policy none)");
      }
      case REJECT -> {
        return TrustVerdict.refuse("trust scope '" + rule.scope() + "' rejects every model");
      }
      default -> {
        // SIGSTORE, below
      }
    }
    if (found.isEmpty()) {
      return TrustVerdict.refuse("no signature");
    }
    String otherDigest = null;
    TrustedKey otherSigner = null;
    for (FoundSignature f : found) {
      FoundSignature.Outcome o = f.check(rule.keys(), manifest);
      if (o.signer() == null) {
        continue;
      }
      if (subject.toString().equals(o.signedDigest())) {
        return TrustVerdict.admit("verified by " + o.signer().name() + " (" + o.form() + ")");
      }
      if (otherSigner == null) {
        otherSigner = o.signer();
        otherDigest = o.signedDigest();
      }
    }
    if (otherSigner != null) {
      return TrustVerdict.refuse("signed digest differs (the signature by " + otherSigner.name() + " names "
          + (otherDigest == null ? "no digest" : otherDigest) + ")");
    }
    return TrustVerdict.refuse("no signature by a trusted key (" + found.size()
        + (found.size() == 1 ? " signature" : " signatures") + " checked against " + rule.keyNames() + ")");
  }
}
