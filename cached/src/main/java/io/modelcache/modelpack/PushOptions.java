package io.modelcache.modelpack;

/**
 * Options of {@code modelcache push}: {@code tar} wraps each file in its own tar layer instead of a raw
 * layer; {@code parallelism} blob uploads at once; {@code name} for the config (null: the Modelfile's
 * NAME, else the directory name); {@code align} is reserved (ignored for now).
 */
public record PushOptions(boolean tar, int parallelism, String name, long align) {
  public PushOptions {
    if (parallelism < 1) {
      throw new IllegalArgumentException("parallelism must be at least 1");
    }
  }

  public static PushOptions defaults() {
    return new PushOptions(false, 4, null, 0);
  }
}
