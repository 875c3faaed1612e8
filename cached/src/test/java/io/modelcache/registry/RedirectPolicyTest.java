package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import org.junit.jupiter.api.Test;

class RedirectPolicyTest {
  private final URI reg = URI.create("https://reg.example:443/v2/a/blobs/sha256:00");

  @Test
  void authorizationOnlyToTheSameOrigin() {
    assertTrue(RedirectPolicy.mayForwardAuthorization(reg, URI.create("https://REG.example/other")));
    assertFalse(RedirectPolicy.mayForwardAuthorization(reg, URI.create("https://s3.amazonaws.com/b?sig=1")));
    assertFalse(RedirectPolicy.mayForwardAuthorization(reg, URI.create("http://reg.example/v2/")));
    assertFalse(RedirectPolicy.mayForwardAuthorization(reg, URI.create("https://reg.example:8443/v2/")));
    assertFalse(RedirectPolicy.mayForwardAuthorization(URI.create("http://127.0.0.1:5000/v2/"),
        URI.create("http://127.0.0.2:5000/v2/")));
  }

  @Test
  void relativeLocations() {
    assertEquals(URI.create("https://reg.example:443/v2/a/blobs/uploads/x?_state=1"),
        RedirectPolicy.resolve(reg, "/v2/a/blobs/uploads/x?_state=1"));
    assertEquals(URI.create("https://cdn.example/p"), RedirectPolicy.resolve(reg, " https://cdn.example/p "));
  }

  @Test
  void redirectStatuses() {
    for (int s : new int[] {301, 302, 303, 307, 308}) {
      assertTrue(RedirectPolicy.isRedirect(s));
    }
    assertFalse(RedirectPolicy.isRedirect(200));
    assertFalse(RedirectPolicy.isRedirect(304));
  }
}
