package io.modelcache.registry;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A parsed {@code WWW-Authenticate} challenge: scheme ("bearer" or "basic", lower case) and its
 * parameters (keys lower case, values unquoted).
 */
public record AuthChallenge(String scheme, Map<String, String> params) {
  public AuthChallenge {
    params = Map.copyOf(params);
  }

  public String param(String key) {
    return params.get(key.toLowerCase(Locale.ROOT));
  }

  public boolean isBearer() {
    return scheme.equals("bearer");
  }

  public boolean isBasic() {
    return scheme.equals("basic");
  }

  /** Parses the first challenge of a header value; null when the value is blank or garbage. */
  public static AuthChallenge parse(String header) {
    if (header == null) {
      return null;
    }
    String h = header.trim();
    int sp = 0;
    while (sp < h.length() && !Character.isWhitespace(h.charAt(sp))) {
      sp++;
    }
    if (sp == 0) {
      return null;
    }
    String scheme = h.substring(0, sp).toLowerCase(Locale.ROOT);
    Map<String, String> params = new LinkedHashMap<>();
    int i = sp;
    int n = h.length();
    while (i < n) {
      while (i < n && (h.charAt(i) == ',' || Character.isWhitespace(h.charAt(i)))) {
        i++;
      }
      int keyStart = i;
      while (i < n && h.charAt(i) != '=' && h.charAt(i) != ',' && !Character.isWhitespace(h.charAt(i))) {
        i++;
      }
      String key = h.substring(keyStart, i).toLowerCase(Locale.ROOT);
      while (i < n && Character.isWhitespace(h.charAt(i))) {
        i++;
      }
      if (i >= n || h.charAt(i) != '=') {
        if (key.isEmpty()) {
          break;
        }
        // A token68 or a second challenge's scheme: stop at the first challenge.
        if (!params.isEmpty()) {
          break;
        }
        continue;
      }
      i++;
      while (i < n && Character.isWhitespace(h.charAt(i))) {
        i++;
      }
      StringBuilder v = new StringBuilder();
      if (i < n && h.charAt(i) == '"') {
        i++;
        while (i < n && h.charAt(i) != '"') {
          if (h.charAt(i) == '\\' && i + 1 < n) {
            i++;
          }
          v.append(h.charAt(i++));
        }
        i++;
      } else {
        while (i < n && h.charAt(i) != ',') {
          v.append(h.charAt(i++));
        }
      }
      params.putIfAbsent(key, v.toString().trim());
    }
    return new AuthChallenge(scheme, params);
  }
}
