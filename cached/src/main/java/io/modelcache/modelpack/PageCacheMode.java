package io.modelcache.modelpack;

import io.modelcache.error.ModelCacheException;
import java.util.Locale;

/**
 * Whether {@code modelcache pull REF DIR} leaves the files it writes in the page cache
 * ({@code --page-cache}): {@link #KEEP} writes through it (a loader started right after finds every
 * page there), {@link #BYPASS} writes with O_DIRECT (staging a model for later: no copy, nothing of
 * the node's page cache pushed out), {@link #AUTO} keeps a model that fits in half of the memory
 * available and bypasses for a bigger one ({@link DirectFile#worthIt}).
 */
public enum PageCacheMode {
  AUTO, KEEP, BYPASS;

  /** Parses {@code auto}, {@code keep} or {@code bypass}; a usage error names the option otherwise. */
  public static PageCacheMode parse(String s) throws ModelCacheException {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "--page-cache: '" + s + "' is not one of auto, keep, bypass");
    }
  }

  /** Whether a pull of {@code modelBytes} writes with O_DIRECT. */
  boolean direct(long modelBytes) {
    return switch (this) {
      case KEEP -> false;
      case BYPASS -> true;
      case AUTO -> DirectFile.worthIt(modelBytes);
    };
  }
}
