package io.modelcache.registry;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * The OAuth2 refresh-token exchange of the distribution token spec, used for identity tokens (what
 * a credential helper returns with user {@code <token>}): {@code POST realm} with
 * {@code grant_type=refresh_token}. Pure request building.
 */
final class IdentityTokens {
  static final String CLIENT_ID = "modelcache";

  private IdentityTokens() {}

  static HttpCall refreshCall(URI realm, String service, String scope, String refreshToken) {
    StringBuilder form = new StringBuilder("grant_type=refresh_token")
        .append("&client_id=").append(enc(CLIENT_ID))
        .append("&refresh_token=").append(enc(refreshToken));
    if (service != null) {
      form.append("&service=").append(enc(service));
    }
    if (scope != null && !scope.isEmpty()) {
      form.append("&scope=").append(enc(scope));
    }
    return HttpCall.of("POST", realm).header("Content-Type", "application/x-www-form-urlencoded")
        .withBody(HttpCall.bytes(form.toString().getBytes(StandardCharsets.UTF_8)));
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
