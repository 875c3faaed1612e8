package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AuthChallengeTest {
  @Test
  void bearerWithQuotedParams() {
    AuthChallenge c = AuthChallenge.parse(
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:a/b:pull,push\"");
    assertTrue(c.isBearer());
    assertEquals("https://auth.docker.io/token", c.param("realm"));
    assertEquals("registry.docker.io", c.param("service"));
    assertEquals("repository:a/b:pull,push", c.param("scope"));
  }

  @Test
  void basicCaseInsensitiveAndUnquoted() {
    AuthChallenge c = AuthChallenge.parse("basic Realm=modelcache-test");
    assertTrue(c.isBasic());
    assertEquals("modelcache-test", c.param("realm"));
  }

  @Test
  void spacesAndEscapes() {
    AuthChallenge c = AuthChallenge.parse("Bearer  realm = \"http://h/t?a=\\\"b\\\"\" , service=\"s\"");
    assertEquals("http://h/t?a=\"b\"", c.param("realm"));
    assertEquals("s", c.param("service"));
  }

  @Test
  void firstOfSeveralChallenges() {
    AuthChallenge c = AuthChallenge.parse("Bearer realm=\"r\", Basic realm=\"x\"");
    assertTrue(c.isBearer());
    assertEquals("r", c.param("realm"));
  }

  @Test
  void garbage() {
    assertNull(AuthChallenge.parse(null));
    assertNull(AuthChallenge.parse("   "));
    assertTrue(AuthChallenge.parse("Negotiate").params().isEmpty());
  }
}
