package io.modelcache.modelpack;

/**
 * Options of {@code modelcache push}: {@code tar} wraps each file in its own tar layer instead of a raw
 * layer; {@code parallelism} blob uploads at once; {@code name} for the config (null: the Modelfile's
 * NAME, else the directory name). Files are pushed byte for byte: padding safetensors headers to a
 * 4 KiB data start was measured and did not speed up mmap loads (docs/performance.md), so it is not
 * offered.
 */
public record PushOptions(boolean tar, int parallelism, String name) {
  public PushOptions {
    if (parallelism < 1) {
      throw new IllegalArgumentException("parallelism must be at least 1");
    }
  }

  public static PushOptions defaults() {
    return new PushOptions(false, 4, null);
  }
}
