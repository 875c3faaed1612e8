package io.modelcache.trust;

/** What a trust rule asks of the models in its scope. */
public enum Require {
  /** A cosign signature by one of the rule's keys over the manifest digest. */
  SIGSTORE,
  /** Nothing (the default when no rule applies). */
  NONE,
  /** Never mount or pull. */
  REJECT;

  public String word() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
