package io.modelcache.trust;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.Reference;
import java.io.IOException;
import java.util.List;

/**
 * The check made at mount and at pull: resolve the reference to its manifest digest, apply the rule
 * for its scope, and refuse (Kind.UNTRUSTED, exit 12) before any blob of the model is read.
 */
public final class TrustGate {
  private TrustGate() {}

  /**
   * What was admitted: the manifest digest to read the model at ({@code null} when the rule is
   * {@code none}: nothing was fetched, the caller reads the reference as before) and the state to show.
   */
  public record Admission(String digest, String state) {
    /** What to read the model at: the checked digest, else what the caller asked for. */
    public String target(String tagOrDigest) {
      return digest != null ? digest : tagOrDigest;
    }
  }

  /**
   * @param shownAs the reference as the user wrote it, for the refusal line
   */
  public static Admission admit(ArtifactSource src, Reference ref, String tagOrDigest, String shownAs, TrustPolicy policy)
      throws IOException {
    TrustRule rule = policy.ruleFor(ref);
    if (rule.require() == Require.NONE) {
      return new Admission(null, SignatureCheck.check(rule, null, null, List.of()).state());
    }
    FetchedManifest fm = src.fetchManifest(tagOrDigest);
    List<FoundSignature> found = rule.require() == Require.SIGSTORE ? SignatureFinder.find(src, fm.digest()) : List.of();
    TrustVerdict v = SignatureCheck.check(rule, fm.digest(), fm.bytes(), found);
    if (!v.admitted()) {
      throw new ModelCacheException(ModelCacheException.Kind.UNTRUSTED,
          shownAs + " (" + fm.digest() + "): not trusted: " + v.reason());
    }
    return new Admission(fm.digest().toString(), v.state());
  }

  /**
   * Whether a model's chunk index may be used under {@code rule}: under {@code require: sigstore} it
   * must be signed by a trusted key like the model itself (an index decides which bytes are served,
   * so an unsigned one could admit bytes the signed manifest never named, chunk by chunk, until the
   * whole-blob check). Any other rule admits it: the index is then bound only to the manifest it names.
   */
  public static TrustVerdict admitIndex(ArtifactSource src, Digest index, TrustRule rule) throws IOException {
    if (rule.require() != Require.SIGSTORE) {
      return TrustVerdict.admit("not checked (policy " + rule.require().name().toLowerCase(java.util.Locale.ROOT) + ")");
    }
    FetchedManifest fm = src.fetchManifest(index.toString());
    return SignatureCheck.check(rule, index, fm.bytes(), SignatureFinder.find(src, index));
  }
}
