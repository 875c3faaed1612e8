package io.modelcache.access;

/** Allowed, or refused with the one line the caller sees (what was refused and why). */
public record Decision(boolean allowed, String refusal) {
  public static final Decision ALLOW = new Decision(true, null);

  public static Decision deny(String refusal) {
    return new Decision(false, refusal);
  }
}
