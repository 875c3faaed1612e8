package io.modelcache.trust;

import io.modelcache.error.ModelCacheException;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One {@code trust:} entry: a scope ({@code *}, or {@code host[:port]} with an optional repository
 * prefix), what it requires, and the keys that may sign models in it.
 */
public record TrustRule(String scope, Require require, List<TrustedKey> keys) {
  private static final Pattern HOST = Pattern.compile("[A-Za-z0-9.-]+(:\\d{1,5})?|\\[[0-9A-Fa-f:]+\\](:\\d{1,5})?");
  private static final Pattern REPO = Pattern.compile("[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*");

  /** The rule that applies where no rule does. */
  public static final TrustRule DEFAULT = new TrustRule("(no rule)", Require.NONE, List.of());

  public TrustRule {
    keys = List.copyOf(keys);
  }

  /** Checks a scope's spelling; returns it normalized (host lower case, no trailing slash). */
  public static String checkScope(String scope) throws ModelCacheException {
    String s = scope == null ? "" : scope.trim();
    if (s.equals("*")) {
      return s;
    }
    while (s.endsWith("/")) {
      s = s.substring(0, s.length() - 1);
    }
    int slash = s.indexOf('/');
    String host = slash < 0 ? s : s.substring(0, slash);
    String repo = slash < 0 ? null : s.substring(slash + 1);
    if (!HOST.matcher(host).matches() || (repo != null && !REPO.matcher(repo).matches())) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "expected '*' or host[:port] with an optional repository prefix, got '" + scope + "'");
    }
    return host.toLowerCase(Locale.ROOT) + (repo == null ? "" : "/" + repo);
  }

  /**
   * How well this rule's scope covers {@code registry}/{@code repository}: -1 when it does not, 0 for
   * {@code *}, 1 for a host, 2 + the prefix length for a repository prefix (longer prefixes are more specific).
   */
  int specificity(String registry, String repository) {
    if (scope.equals("*")) {
      return 0;
    }
    if (registry == null) {
      return -1; // an oci: layout has no host; only "*" covers it
    }
    int slash = scope.indexOf('/');
    String host = slash < 0 ? scope : scope.substring(0, slash);
    if (!host.equalsIgnoreCase(registry)) {
      return -1;
    }
    if (slash < 0) {
      return 1;
    }
    String prefix = scope.substring(slash + 1);
    return repository.equals(prefix) || repository.startsWith(prefix + "/") ? 2 + prefix.length() : -1;
  }

  /** The key names, for messages. */
  public String keyNames() {
    return String.join(", ", keys.stream().map(TrustedKey::name).toList());
  }
}
