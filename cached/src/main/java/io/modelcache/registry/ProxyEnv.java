package io.modelcache.registry;

import io.modelcache.config.ProxyUrl;
import io.modelcache.error.ModelCacheException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.Map;

/**
 * The proxy environment as docker, containerd and Go programs read it: {@code HTTP_PROXY} for plain-HTTP
 * registries, {@code HTTPS_PROXY} for HTTPS ones, {@code NO_PROXY} for exceptions (upper case first, then
 * lower case). Loopback hosts never go through an environment proxy; only an explicit per-registry
 * proxy applies to them. Pure: the variables are handed in.
 */
public record ProxyEnv(String httpProxy, String httpsProxy, String noProxy) {
  public static final ProxyEnv NONE = new ProxyEnv(null, null, null);

  public static ProxyEnv from(Map<String, String> env) {
    return new ProxyEnv(first(env, "HTTP_PROXY", "http_proxy"), first(env, "HTTPS_PROXY", "https_proxy"),
        first(env, "NO_PROXY", "no_proxy"));
  }

  private static String first(Map<String, String> env, String upper, String lower) {
    String v = env.get(upper);
    if (v == null || v.isBlank()) {
      v = env.get(lower);
    }
    return v == null || v.isBlank() ? null : v.trim();
  }

  /** The proxy for {@code host:port} over {@code https} or plain HTTP, or null to connect directly. */
  public URI proxyFor(String host, int port, boolean https) throws ModelCacheException {
    String raw = https ? httpsProxy : httpProxy;
    if (raw == null || isLoopback(host) || excluded(noProxy, host, port)) {
      return null;
    }
    try {
      return ProxyUrl.parse(raw);
    } catch (IllegalArgumentException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          (https ? "HTTPS_PROXY" : "HTTP_PROXY") + ": " + e.getMessage());
    }
  }

  /** localhost, 127.0.0.0/8 and ::1 (literals only: nothing is resolved here). */
  static boolean isLoopback(String host) {
    String h = bare(host);
    if (h.equals("localhost") || h.endsWith(".localhost")) {
      return true;
    }
    byte[] ip = literal(h);
    if (ip == null) {
      return false;
    }
    try {
      return InetAddress.getByAddress(ip).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /**
   * NO_PROXY matching: {@code *} for all; {@code example.com} and {@code .example.com} for the domain and
   * its subdomains; {@code host:port} for one port; IP literals and CIDR blocks ({@code 10.0.0.0/8}).
   */
  static boolean excluded(String noProxy, String host, int port) {
    if (noProxy == null) {
      return false;
    }
    String h = bare(host);
    byte[] ip = literal(h);
    for (String entry : noProxy.split(",")) {
      String e = entry.trim().toLowerCase(Locale.ROOT);
      if (e.isEmpty()) {
        continue;
      }
      if (e.equals("*")) {
        return true;
      }
      if (e.contains("/")) {
        if (ip != null && inCidr(ip, e)) {
          return true;
        }
        continue;
      }
      int wantPort = -1;
      int colon = e.lastIndexOf(':');
      if (colon > 0 && e.indexOf(':') == colon && !e.endsWith("]")) {
        try {
          wantPort = Integer.parseInt(e.substring(colon + 1));
          e = e.substring(0, colon);
        } catch (NumberFormatException notPort) {
          continue;
        }
      } else if (e.startsWith("[") && e.contains("]:")) {
        int close = e.indexOf("]:");
        try {
          wantPort = Integer.parseInt(e.substring(close + 2));
        } catch (NumberFormatException notPort) {
          continue;
        }
        e = e.substring(0, close + 1);
      }
      if (wantPort >= 0 && wantPort != port) {
        continue;
      }
      e = bare(e);
      if (e.startsWith("*.")) {
        e = e.substring(1);
      }
      String domain = e.startsWith(".") ? e.substring(1) : e;
      if (h.equals(domain) || (ip == null && h.endsWith("." + domain))) {
        return true;
      }
    }
    return false;
  }

  private static boolean inCidr(byte[] ip, String cidr) {
    int slash = cidr.indexOf('/');
    byte[] net = literal(bare(cidr.substring(0, slash)));
    int bits;
    try {
      bits = Integer.parseInt(cidr.substring(slash + 1));
    } catch (NumberFormatException e) {
      return false;
    }
    if (net == null || net.length != ip.length || bits < 0 || bits > ip.length * 8) {
      return false;
    }
    for (int i = 0; i < bits; i++) {
      int mask = 0x80 >> (i % 8);
      if ((ip[i / 8] & mask) != (net[i / 8] & mask)) {
        return false;
      }
    }
    return true;
  }

  private static String bare(String host) {
    String h = host.trim().toLowerCase(Locale.ROOT);
    return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
  }

  /** The bytes of an IPv4 or IPv6 literal, or null for a name (never a DNS lookup). */
  static byte[] literal(String h) {
    if (h.isEmpty()) {
      return null;
    }
    if (h.indexOf(':') >= 0) {
      if (!h.matches("[0-9a-f:.]+")) {
        return null;
      }
    } else if (!h.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
      return null;
    }
    try {
      return InetAddress.getByName(h).getAddress(); // a literal: parsed, not resolved
    } catch (UnknownHostException e) {
      return null;
    }
  }
}
