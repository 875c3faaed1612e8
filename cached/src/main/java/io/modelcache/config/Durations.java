package io.modelcache.config;

import io.modelcache.error.ModelCacheException;
import java.time.Duration;
import java.util.Locale;

/** Durations as operators write them: {@code 500ms}, {@code 30s}, {@code 2m}, {@code 1h}, or plain seconds. */
public final class Durations {
  private Durations() {}

  public static Duration parse(String what, String text) throws ModelCacheException {
    String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    try {
      if (s.endsWith("ms")) {
        long ms = Long.parseLong(s.substring(0, s.length() - 2));
        if (ms < 0) {
          throw new NumberFormatException();
        }
        return Duration.ofMillis(ms);
      }
      long n;
      char unit = s.isEmpty() ? ' ' : s.charAt(s.length() - 1);
      String num = Character.isDigit(unit) ? s : s.substring(0, s.length() - 1);
      n = Long.parseLong(num);
      if (n < 0) {
        throw new NumberFormatException();
      }
      return switch (unit) {
        case 's' -> Duration.ofSeconds(n);
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        default -> {
          if (!Character.isDigit(unit)) {
            throw new NumberFormatException();
          }
          yield Duration.ofSeconds(n);
        }
      };
    } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "invalid " + what + " '" + text + "' (expected e.g. 500ms, 30s, 2m)");
    }
  }

  /** As {@link #parse}, for a duration that must be longer than zero (a timeout). */
  public static Duration parsePositive(String what, String text) throws ModelCacheException {
    Duration d = parse(what, text);
    if (d.isZero()) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "invalid " + what + " '" + text + "': must be longer than 0 (e.g. 30s)");
    }
    return d;
  }
}
