package io.modelcache.trust;

import io.modelcache.oci.Reference;
import java.util.List;

/** The {@code trust:} rules of a config; picks the rule for a reference. Immutable. */
public record TrustPolicy(List<TrustRule> rules) {
  public static final TrustPolicy NONE = new TrustPolicy(List.of());

  public TrustPolicy {
    rules = List.copyOf(rules);
  }

  /**
   * The most specific rule covering the reference's repository ({@code *} &lt; host &lt; longer
   * repository prefix); the first such rule when two are equally specific; {@link TrustRule#DEFAULT}
   * ({@code none}) when no rule covers it.
   */
  public TrustRule ruleFor(Reference ref) {
    return ruleFor(ref.isLayout() ? null : ref.registry(), ref.repository());
  }

  public TrustRule ruleFor(String registry, String repository) {
    TrustRule best = TrustRule.DEFAULT;
    int bestScore = -1;
    for (TrustRule r : rules) {
      int s = r.specificity(registry, repository == null ? "" : repository);
      if (s > bestScore) {
        best = r;
        bestScore = s;
      }
    }
    return best;
  }
}
