package io.modelcache.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.oci.Reference;
import java.util.List;
import org.junit.jupiter.api.Test;

class TrustPolicyTest {
  private static TrustRule rule(String scope, Require r) throws Exception {
    return new TrustRule(TrustRule.checkScope(scope), r, List.of());
  }

  private static String scopeFor(TrustPolicy p, String ref) throws Exception {
    return p.ruleFor(Reference.parse(ref)).scope();
  }

  @Test
  void mostSpecificScopeWins() throws Exception {
    TrustPolicy p = new TrustPolicy(List.of(
        rule("*", Require.REJECT),
        rule("registry.example.com", Require.NONE),
        rule("registry.example.com/models", Require.SIGSTORE),
        rule("registry.example.com/models/llama", Require.NONE),
        rule("127.0.0.1:5000/team", Require.SIGSTORE)));
    assertEquals("registry.example.com/models/llama", scopeFor(p, "registry.example.com/models/llama/8b:v1"));
    assertEquals("registry.example.com/models/llama", scopeFor(p, "registry.example.com/models/llama:v1"));
    assertEquals("registry.example.com/models", scopeFor(p, "registry.example.com/models/mistral:v1"));
    assertEquals("registry.example.com", scopeFor(p, "registry.example.com/other/x:v1"));
    // A prefix matches whole path components only.
    assertEquals("registry.example.com", scopeFor(p, "registry.example.com/models2/x:v1"));
    assertEquals("*", scopeFor(p, "quay.io/models/x:v1"));
    // The port is part of the host.
    assertEquals("127.0.0.1:5000/team", scopeFor(p, "127.0.0.1:5000/team/m:v1"));
    assertEquals("*", scopeFor(p, "127.0.0.1:5001/team/m:v1"));
    // An oci: layout has no host: only "*" covers it.
    assertEquals("*", scopeFor(p, "oci:/srv/layout:v1"));
  }

  @Test
  void hostsMatchWithoutCaseAndOrderBreaksTies() throws Exception {
    TrustPolicy p = new TrustPolicy(List.of(rule("Registry.Example.com/models", Require.SIGSTORE),
        new TrustRule("registry.example.com/models", Require.NONE, List.of())));
    TrustRule r = p.ruleFor(Reference.parse("REGISTRY.example.com/models/x:v1"));
    assertEquals(Require.SIGSTORE, r.require());
  }

  @Test
  void noRuleMeansNone() throws Exception {
    assertEquals(Require.NONE, TrustPolicy.NONE.ruleFor(Reference.parse("registry.example.com/a:b")).require());
    TrustPolicy p = new TrustPolicy(List.of(rule("registry.example.com/models", Require.REJECT)));
    assertEquals(TrustRule.DEFAULT, p.ruleFor(Reference.parse("registry.example.com/other:v1")));
    assertEquals(TrustRule.DEFAULT, p.ruleFor(Reference.parse("oci:/srv/layout:v1")));
  }

  @Test
  void scopesAreChecked() throws Exception {
    assertEquals("registry.example.com/models", TrustRule.checkScope("Registry.Example.com/models/"));
    assertEquals("[::1]:5000", TrustRule.checkScope("[::1]:5000"));
    for (String bad : List.of("", "http://registry.example.com", "registry.example.com/Models", "a b", "host:port")) {
      var e = assertThrows(io.modelcache.error.ModelCacheException.class, () -> TrustRule.checkScope(bad));
      assertEquals("expected '*' or host[:port] with an optional repository prefix, got '" + bad + "'", e.getMessage());
    }
  }
}
