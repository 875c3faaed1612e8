package io.modelcache.config;

import io.modelcache.error.ModelCacheException;
import java.util.Locale;

/** Byte sizes as operators write them: {@code 512M}, {@code 20G}, {@code 1T}, {@code 4096} (binary units). */
public final class Sizes {
  private Sizes() {}

  public static long parse(String what, String text) throws ModelCacheException {
    String s = text == null ? "" : text.trim().toUpperCase(Locale.ROOT);
    if (s.endsWith("IB")) {
      s = s.substring(0, s.length() - 2);
    } else if (s.endsWith("B") && s.length() > 1 && !Character.isDigit(s.charAt(s.length() - 2))) {
      s = s.substring(0, s.length() - 1);
    }
    long mult = 1;
    if (!s.isEmpty()) {
      switch (s.charAt(s.length() - 1)) {
        case 'K' -> mult = 1L << 10;
        case 'M' -> mult = 1L << 20;
        case 'G' -> mult = 1L << 30;
        case 'T' -> mult = 1L << 40;
        default -> mult = 1;
      }
      if (mult != 1) {
        s = s.substring(0, s.length() - 1);
      }
    }
    try {
      long v = Long.parseLong(s);
      if (v < 0 || v > Long.MAX_VALUE / mult) {
        throw new NumberFormatException();
      }
      return v * mult;
    } catch (NumberFormatException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "invalid " + what + " '" + text + "' (expected a number of bytes with an optional K, M, G or T suffix)");
    }
  }

  /** Human-readable binary size, e.g. {@code 1.5 GiB}. */
  public static String format(long bytes) {
    if (bytes < 1024) {
      return bytes + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = bytes;
    int u = -1;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
  }
}
