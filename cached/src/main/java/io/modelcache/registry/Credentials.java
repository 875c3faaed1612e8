package io.modelcache.registry;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Objects;

/**
 * A registry user name and password, or an identity token (user {@code <token>}, as docker credential
 * helpers and {@code identitytoken} entries give it): an OAuth2 refresh token exchanged at the token
 * service. {@link #toString()} never shows the password or token.
 */
public record Credentials(String user, String password) {
  /** The user name docker uses to mark an identity token. */
  public static final String TOKEN_USER = "<token>";

  public Credentials {
    Objects.requireNonNull(user, "user");
    Objects.requireNonNull(password, "password");
  }

  public static Credentials identityToken(String token) {
    return new Credentials(TOKEN_USER, token);
  }

  public boolean isIdentityToken() {
    return TOKEN_USER.equals(user);
  }

  /** The value of an {@code Authorization: Basic} header. */
  public String basicHeader() {
    return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public String toString() {
    return "Credentials[user=" + user + ", password=***]";
  }
}
