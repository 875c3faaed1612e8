package io.modelcache.modelpack;

/**
 * Options of {@code modelcache push}: {@code tar} wraps each file in its own tar layer instead of a raw
 * layer; {@code parallelism} blob uploads at once; {@code name} for the config (null: the Modelfile's
 * NAME, else the directory name); {@code align} (bytes, 0 or 1: off) pads each safetensors
 * header with spaces so its data section starts on that boundary (4096 for {@code --align}).
 */
public record PushOptions(boolean tar, int parallelism, String name, long align) {
  public PushOptions {
    if (parallelism < 1) {
      throw new IllegalArgumentException("parallelism must be at least 1");
    }
    if (align < 0) {
      throw new IllegalArgumentException("align must be >= 0");
    }
  }

  public static PushOptions defaults() {
    return new PushOptions(false, 4, null, 0);
  }
}
