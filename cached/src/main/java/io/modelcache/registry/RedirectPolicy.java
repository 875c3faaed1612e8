package io.modelcache.registry;

import java.net.URI;
import java.util.Locale;

/** Which headers survive a redirect: Authorization only goes back to the exact same origin. */
public final class RedirectPolicy {
  public static final int MAX_REDIRECTS = 5;

  private RedirectPolicy() {}

  /** Resolves a Location header against the URI that answered with it. */
  public static URI resolve(URI from, String location) {
    return from.resolve(location.trim());
  }

  /** True when credentials for {@code original} may be sent to {@code target}. */
  public static boolean mayForwardAuthorization(URI original, URI target) {
    return scheme(original).equals(scheme(target))
        && host(original).equals(host(target))
        && port(original) == port(target);
  }

  public static boolean isRedirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  }

  private static String scheme(URI u) {
    return u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
  }

  private static String host(URI u) {
    return u.getHost() == null ? "" : u.getHost().toLowerCase(Locale.ROOT);
  }

  static int port(URI u) {
    if (u.getPort() >= 0) {
      return u.getPort();
    }
    return "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
  }
}
