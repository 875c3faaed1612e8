package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProxyEnvTest {
  @Test
  void schemePicksTheVariableAndUpperCaseWins() throws Exception {
    ProxyEnv e = ProxyEnv.from(Map.of("HTTP_PROXY", "http://plain:3128", "http_proxy", "http://lower:1",
        "https_proxy", "tls-proxy:8080"));
    assertEquals(URI.create("http://plain:3128"), e.proxyFor("registry.example.com", 80, false));
    assertEquals(URI.create("http://tls-proxy:8080"), e.proxyFor("registry.example.com", 443, true));
    assertNull(ProxyEnv.from(Map.of("HTTP_PROXY", "http://p:1")).proxyFor("registry.example.com", 443, true));
  }

  @Test
  void loopbackNeverUsesAnEnvironmentProxy() throws Exception {
    ProxyEnv e = ProxyEnv.from(Map.of("HTTP_PROXY", "http://p:1", "HTTPS_PROXY", "http://p:1"));
    for (String h : new String[] {"127.0.0.1", "127.3.4.5", "localhost", "[::1]", "::1", "a.localhost"}) {
      assertNull(e.proxyFor(h, 5000, false), h);
      assertNull(e.proxyFor(h, 5000, true), h);
    }
    assertEquals(URI.create("http://p:1"), e.proxyFor("10.1.2.3", 5000, false));
  }

  @Test
  void noProxyForms() {
    String np = "internal.example.com, .corp.local,registry.io:5000,10.0.0.0/8,[fd00::1],*.wild.org";
    assertTrue(ProxyEnv.excluded(np, "internal.example.com", 443));
    assertTrue(ProxyEnv.excluded(np, "a.internal.example.com", 443));
    assertFalse(ProxyEnv.excluded(np, "notinternal.example.com", 443));
    assertTrue(ProxyEnv.excluded(np, "corp.local", 443));
    assertTrue(ProxyEnv.excluded(np, "x.corp.local", 443));
    assertTrue(ProxyEnv.excluded(np, "registry.io", 5000));
    assertFalse(ProxyEnv.excluded(np, "registry.io", 443));
    assertTrue(ProxyEnv.excluded(np, "10.200.3.4", 80));
    assertFalse(ProxyEnv.excluded(np, "11.0.0.1", 80));
    assertTrue(ProxyEnv.excluded(np, "[fd00::1]", 80));
    assertTrue(ProxyEnv.excluded(np, "b.wild.org", 80));
    assertTrue(ProxyEnv.excluded("*", "anything", 1));
    assertFalse(ProxyEnv.excluded(null, "anything", 1));
  }

  @Test
  void badProxyValueIsOneLineNamingTheVariable() {
    ProxyEnv e = ProxyEnv.from(Map.of("HTTPS_PROXY", "socks5://u:pw@p:1080"));
    ModelCacheException x = assertThrows(ModelCacheException.class, () -> e.proxyFor("r.example.com", 443, true));
    assertEquals("HTTPS_PROXY: 'socks5://***@p:1080': only http:// proxies are supported", x.getMessage());
    assertEquals(ModelCacheException.Kind.USAGE, x.kind());
  }
}
