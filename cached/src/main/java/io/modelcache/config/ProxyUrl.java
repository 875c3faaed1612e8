package io.modelcache.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/**
 * HTTP proxy addresses as operators write them ({@code http://127.0.0.1:4001}, {@code proxy:3128},
 * {@code http://user:pass@proxy:3128}). Only {@code http://} proxies exist here: requests to plain-HTTP
 * registries go to them in absolute form, HTTPS ones through a CONNECT tunnel. Messages never show the
 * user information.
 */
public final class ProxyUrl {
  private ProxyUrl() {}

  /** The normalised {@code http://[userinfo@]host:port}; IllegalArgumentException with a one-line reason. */
  public static URI parse(String text) {
    String s = text == null ? "" : text.trim();
    if (s.isEmpty()) {
      throw new IllegalArgumentException("empty proxy address");
    }
    if (!s.contains("://")) {
      s = "http://" + s;
    }
    URI u;
    try {
      u = new URI(s);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("'" + redact(s) + "' is not a proxy URL (expected http://host:port)");
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http")) {
      throw new IllegalArgumentException("'" + redact(s) + "': only http:// proxies are supported");
    }
    if (u.getHost() == null || u.getHost().isEmpty()) {
      throw new IllegalArgumentException("'" + redact(s) + "' is not a proxy URL (expected http://host:port)");
    }
    String path = u.getRawPath();
    if ((path != null && !path.isEmpty() && !path.equals("/")) || u.getRawQuery() != null) {
      throw new IllegalArgumentException("'" + redact(s) + "': a proxy URL has no path");
    }
    int port = u.getPort() < 0 ? 80 : u.getPort();
    return URI.create("http://" + (u.getRawUserInfo() != null ? u.getRawUserInfo() + "@" : "") + u.getHost() + ":" + port);
  }

  /** {@code host:port} of a parsed proxy, for messages and logs. */
  public static String display(URI proxy) {
    return proxy.getHost() + ":" + proxy.getPort();
  }

  private static String redact(String s) {
    int at = s.lastIndexOf('@');
    int scheme = s.indexOf("://");
    return at > scheme && scheme >= 0 ? s.substring(0, scheme + 3) + "***@" + s.substring(at + 1) : s;
  }
}
