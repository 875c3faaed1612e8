package io.modelcache.oci;

import io.modelcache.error.ModelCacheException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * A model reference: {@code host[:port]/repo/path[:tag][@sha256:...]} (Docker style, the host is
 * required) or {@code oci:PATH[:TAG][@sha256:...]} for an OCI image layout directory. A missing tag
 * means {@code latest}. Exactly one of {@code registry} and {@code layout} is set.
 */
public record Reference(String registry, String repository, Path layout, String tag, Digest digest) {
  private static final Pattern REPO =
      Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*");
  private static final Pattern HOST =
      Pattern.compile("[A-Za-z0-9.-]+(:[0-9]{1,5})?|\\[[0-9A-Fa-f:]+\\](:[0-9]{1,5})?");
  private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  public static final String DEFAULT_TAG = "latest";

  public static Reference parse(String s) throws ModelCacheException {
    if (s == null || s.isBlank()) {
      throw usage(s, "empty reference");
    }
    int cred = s.startsWith("oci:") ? -1 : userinfoEnd(s);
    if (cred >= 0) {
      // user:password@host/...: never echo what may be a password back to the terminal or a log.
      throw usage("***" + s.substring(cred), "credentials do not belong in a reference; use 'modelcache login' or the Docker config");
    }
    String rest = s;
    Digest digest = null;
    int at = rest.lastIndexOf('@');
    if (at >= 0) {
      String d = rest.substring(at + 1);
      if (!Digest.isValid(d)) {
        throw usage(s, "invalid digest '" + d + "' (expected sha256:<64 hex>)");
      }
      digest = new Digest(d.substring(7));
      rest = rest.substring(0, at);
    }
    if (rest.startsWith("oci:")) {
      String body = rest.substring(4);
      String tag = null;
      int colon = body.lastIndexOf(':');
      if (colon > body.lastIndexOf('/')) {
        tag = body.substring(colon + 1);
        body = body.substring(0, colon);
        if (!TAG.matcher(tag).matches()) {
          throw usage(s, "invalid tag '" + tag + "'");
        }
      }
      if (body.isEmpty()) {
        throw usage(s, "missing layout path after 'oci:'");
      }
      if (tag == null && digest == null) {
        tag = DEFAULT_TAG;
      }
      return new Reference(null, null, Path.of(body), tag, digest);
    }
    int slash = rest.indexOf('/');
    if (slash <= 0) {
      throw usage(s, "expected host[:port]/repository[:tag][@digest] or oci:PATH[:TAG]");
    }
    String host = rest.substring(0, slash);
    String path = rest.substring(slash + 1);
    String tag = null;
    int colon = path.lastIndexOf(':');
    if (colon >= 0) {
      tag = path.substring(colon + 1);
      path = path.substring(0, colon);
      if (!TAG.matcher(tag).matches()) {
        throw usage(s, "invalid tag '" + tag + "'");
      }
    }
    if (!REPO.matcher(path).matches()) {
      throw usage(s, "invalid repository name '" + path + "'");
    }
    if (!HOST.matcher(host).matches()) {
      throw usage(s, "invalid registry host '" + host + "'");
    }
    String port = portProblem(host);
    if (port != null) {
      throw usage(s, "invalid registry " + port);
    }
    if (tag == null && digest == null) {
      tag = DEFAULT_TAG;
    }
    return new Reference(host, path, null, tag, digest);
  }

  /**
   * Where {@code user[:password]@} ends in {@code s} (the index of its {@code @}), or -1. No
   * {@code @} belongs in a reference but the one before its digest ({@code @sha256:...}, valid or
   * mistyped, which gets its own message), so any other may end a password or token, which may
   * itself hold a {@code /}: everything up to the last such {@code @} is never echoed.
   */
  private static int userinfoEnd(String s) {
    for (int at = s.lastIndexOf('@'); at >= 0; at = at == 0 ? -1 : s.lastIndexOf('@', at - 1)) {
      if (!DIGEST_LIKE.matcher(s.substring(at + 1)).matches()) {
        return at;
      }
    }
    return -1;
  }

  private static final java.util.regex.Pattern DIGEST_LIKE = java.util.regex.Pattern.compile("sha[0-9]+:[^/@]*");

  /**
   * Checks a registry given on its own ({@code host[:port]}, as {@code modelcache login} takes it)
   * and returns it; a usage error names it otherwise, with what it looks like instead.
   */
  public static String parseRegistry(String s) throws ModelCacheException {
    String why = s == null || s.isBlank() ? "empty"
        : s.indexOf('@') >= 0 ? "credentials do not belong here"
        : s.indexOf('/') >= 0 ? "that is a reference; give only its registry, '" + s.substring(0, s.indexOf('/')) + "'"
        : null;
    if (why == null) {
      why = HOST.matcher(s).matches() ? portProblem(s) : "expected host[:port]";
      if (why == null) {
        return s;
      }
    }
    String shown = s == null ? "" : s.indexOf('@') >= 0 ? redacted(s) : s;
    throw new ModelCacheException(ModelCacheException.Kind.USAGE, "invalid registry '" + shown + "': " + why);
  }

  /** "port N (1-65535)" when {@code host} (matching {@link #HOST}) names a port outside TCP's range, else null. */
  private static String portProblem(String host) {
    int colon = host.lastIndexOf(':');
    if (colon <= host.lastIndexOf(']')) {
      return null;
    }
    int port = Integer.parseInt(host.substring(colon + 1));
    return port >= 1 && port <= 65535 ? null : "port " + port + " (1-65535)";
  }

  /** {@code ref} with everything before the '@' of its host part masked. */
  private static String redacted(String ref) {
    int slash = ref.indexOf('/');
    int at = (slash < 0 ? ref : ref.substring(0, slash)).lastIndexOf('@');
    return "***" + ref.substring(at);
  }

  private static ModelCacheException usage(String ref, String why) {
    return new ModelCacheException(ModelCacheException.Kind.USAGE, "invalid reference '" + ref + "': " + why);
  }

  public boolean isLayout() {
    return layout != null;
  }

  /** What to ask the source for: the digest when pinned, else the tag. */
  public String tagOrDigest() {
    return digest != null ? digest.toString() : tag;
  }

  /** The same reference pinned to {@code d} (the tag is kept for display). */
  public Reference withDigest(Digest d) {
    return new Reference(registry, repository, layout, tag, d);
  }

  /**
   * Host without port, lower case, brackets removed; loopback hosts (localhost, 127.0.0.0/8, ::1)
   * use plain HTTP by default.
   */
  public boolean isLoopbackRegistry() {
    if (registry == null) {
      return false;
    }
    String h = registry;
    if (h.startsWith("[")) {
      h = h.substring(1, h.indexOf(']'));
      return h.equals("::1");
    }
    int c = h.indexOf(':');
    if (c >= 0) {
      h = h.substring(0, c);
    }
    h = h.toLowerCase(java.util.Locale.ROOT);
    return h.equals("localhost") || h.matches("127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}");
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    if (isLayout()) {
      b.append("oci:").append(layout);
    } else {
      b.append(registry).append('/').append(repository);
    }
    if (tag != null) {
      b.append(':').append(tag);
    }
    if (digest != null) {
      b.append('@').append(digest);
    }
    return b.toString();
  }
}
