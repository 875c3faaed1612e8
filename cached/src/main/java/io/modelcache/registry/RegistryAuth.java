package io.modelcache.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.io.IOException;
import java.net.URI;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The authorization side of a registry client: sends one request with what the registry asked for
 * (nothing, Basic, or a Bearer token of the right scope), answers one 401 challenge, re-reads rotated
 * credentials once after a refusal, and follows redirects (Authorization only to the same origin).
 * Retries are the caller's ({@link RegistryClient}). Thread-safe: credentials and the challenge are
 * volatile, tokens are cached per scope.
 */
final class RegistryAuth {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryAuth.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What a request needs: the token scope it asks for. */
  enum Access {
    PULL,
    PUSH,
    LOGIN
  }

  private final String host;
  private final String repo;
  private final HttpTransport http;
  /** Where {@link #creds} came from, asked again on a 401/403; null for credentials given explicitly. */
  private final RegistryClient.CredentialSource source;
  private volatile Credentials creds;
  private final BearerTokens tokens;
  private volatile AuthChallenge bearer;
  private volatile boolean basicMode;

  RegistryAuth(String host, String repo, HttpTransport http, Credentials creds, RegistryClient.CredentialSource source,
      Clock clock) {
    this.host = host;
    this.repo = repo;
    this.http = http;
    this.creds = creds;
    this.source = source;
    this.tokens = new BearerTokens(clock);
  }

  /** One attempt: sends with the current auth, answers one 401 challenge, follows redirects. */
  HttpReply call(HttpCall call, Access access) throws IOException {
    boolean challenged = false;
    boolean reread = false;
    while (true) {
      Credentials used = creds;
      String auth = authorization(access);
      HttpReply r = followRedirects(call, auth);
      if (r.status() >= 500) {
        String why = r.status() + " " + r.reason();
        r.discard();
        throw new TransportException(TransportException.Kind.SERVER, why, false, null);
      }
      if (r.status() == 403 && !reread && RedirectPolicy.mayForwardAuthorization(call.uri(), r.uri())
          && credentialsChanged(used)) {
        r.discard(); // refused: the credential source may have rotated them meanwhile
        reread = true;
        continue;
      }
      if (r.status() != 401 || !RedirectPolicy.mayForwardAuthorization(call.uri(), r.uri())) {
        return r;
      }
      AuthChallenge ch = AuthChallenge.parse(r.header("WWW-Authenticate"));
      r.discard();
      boolean bearerChallenge = ch != null && ch.isBearer() && ch.param("realm") != null;
      if (challenged || (!bearerChallenge && (creds == null || (basicMode && auth != null)))) {
        if (!reread && credentialsChanged(used)) {
          reread = true;
          challenged = false;
          continue;
        }
        throw authFailed(401, "Unauthorized");
      }
      challenged = true;
      if (bearerChallenge) {
        bearer = ch;
        tokens.invalidate(scope(access));
      } else {
        basicMode = true;
      }
    }
  }

  /**
   * After a refusal of {@code used}: true when the credentials are now others, because another request
   * already read them again or because the source (docker config, helper) now says something else. The
   * client then holds exactly what the source says (nothing, if it has nothing) and no token of before.
   */
  private boolean credentialsChanged(Credentials used) throws IOException {
    if (source == null) {
      return false;
    }
    synchronized (tokens) {
      if (!java.util.Objects.equals(creds, used)) {
        return true;
      }
      Credentials now = source.read();
      if (java.util.Objects.equals(now, used)) {
        return false;
      }
      creds = now;
      tokens.clear();
    }
    LOG.info("{}: registry refused the credentials; using the ones its credential source has now", host);
    return true;
  }

  private String scope(Access a) {
    return switch (a) {
      case PULL -> "repository:" + repo + ":pull";
      case PUSH -> "repository:" + repo + ":pull,push";
      case LOGIN -> "";
    };
  }

  private String authorization(Access access) throws IOException {
    AuthChallenge b = bearer;
    if (b != null) {
      String scope = scope(access);
      String t = tokens.get(scope);
      if (t == null) {
        t = fetchToken(b, scope);
      }
      return "Bearer " + t;
    }
    Credentials c = creds;
    if (basicMode && c != null && !c.isIdentityToken()) {
      return c.basicHeader();
    }
    return null;
  }

  private String fetchToken(AuthChallenge ch, String scope) throws IOException {
    Credentials used = creds;
    try {
      return fetchToken(ch, scope, used);
    } catch (ModelCacheException e) {
      if (e.kind() == Kind.AUTH && credentialsChanged(used)) {
        return fetchToken(ch, scope, creds);
      }
      throw e;
    }
  }

  private String fetchToken(AuthChallenge ch, String scope, Credentials creds) throws IOException {
    StringBuilder q = new StringBuilder();
    if (ch.param("service") != null) {
      q.append("service=").append(enc(ch.param("service")));
    }
    if (!scope.isEmpty()) {
      q.append(q.isEmpty() ? "" : "&").append("scope=").append(enc(scope));
    }
    URI realm = URI.create(ch.param("realm"));
    URI u = q.isEmpty() ? realm : URI.create(realm + (realm.getRawQuery() == null ? "?" : "&") + q);
    HttpCall c = HttpCall.of("GET", u);
    if (creds != null && creds.isIdentityToken()) {
      c = IdentityTokens.refreshCall(realm, ch.param("service"), scope, creds.password());
    } else if (creds != null) {
      c = c.header("Authorization", creds.basicHeader());
    }
    try (HttpReply r = http.send(c)) {
      if (r.status() == 401 || r.status() == 403) {
        throw authFailed(r.status(), r.reason(), creds);
      }
      if (r.status() >= 500) {
        throw new TransportException(TransportException.Kind.SERVER, r.status() + " " + r.reason(), false, null);
      }
      if (r.status() != 200) {
        throw new ModelCacheException(Kind.AUTH,
            host + ": token service answered " + r.status() + " " + r.reason());
      }
      JsonNode n = JSON.readTree(r.readAll(1 << 20, () -> new ModelCacheException(Kind.AUTH,
          host + ": token response too large")));
      String token = n.path("token").asText("");
      if (token.isEmpty()) {
        token = n.path("access_token").asText("");
      }
      if (token.isEmpty()) {
        throw new ModelCacheException(Kind.AUTH, host + ": token service sent no token");
      }
      tokens.put(scope, token, n.path("expires_in").asLong(0));
      return token;
    }
  }

  /** Follows up to 5 redirects; a 403 from another host (expired presigned URL) re-asks the registry. */
  private HttpReply followRedirects(HttpCall call, String auth) throws IOException {
    HttpCall first = call.header("Authorization", auth);
    HttpCall cur = first;
    int redirects = 0;
    int reasks = 0;
    while (true) {
      HttpReply r = http.send(cur);
      String loc = r.header("Location");
      if (RedirectPolicy.isRedirect(r.status()) && loc != null) {
        r.discard();
        if (++redirects > RedirectPolicy.MAX_REDIRECTS) {
          throw new ModelCacheException(Kind.IO, host + ": too many redirects for " + call.uri().getRawPath());
        }
        URI next = RedirectPolicy.resolve(cur.uri(), loc);
        cur = cur.withUri(next)
            .header("Authorization", RedirectPolicy.mayForwardAuthorization(call.uri(), next) ? auth : null);
        continue;
      }
      if (r.status() == 403 && redirects > 0 && !RedirectPolicy.mayForwardAuthorization(call.uri(), cur.uri())
          && reasks < 2) {
        r.discard();
        reasks++;
        redirects = 0;
        cur = first;
        continue;
      }
      return r;
    }
  }

  ModelCacheException authFailed(int status, String reason) {
    return authFailed(status, reason, creds);
  }

  private ModelCacheException authFailed(int status, String reason, Credentials creds) {
    if (creds == null) {
      if (status == 401) {
        return new ModelCacheException(Kind.AUTH,
            host + ": authentication required; run 'modelcache login " + host + "'");
      }
      return new ModelCacheException(Kind.AUTH, host + ": authentication failed (" + status + " " + reason + ")");
    }
    return new ModelCacheException(Kind.AUTH,
        host + ": authentication failed for user '" + creds.user() + "' (" + status + " " + reason + ")");
  }

  private static String enc(String s) {
    return RegistryClient.enc(s);
  }
}
