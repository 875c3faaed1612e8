package io.modelcache.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import org.junit.jupiter.api.Test;

class ReferenceTest {
  private static ModelCacheException refused(String ref) {
    ModelCacheException e = assertThrows(ModelCacheException.class, () -> Reference.parse(ref));
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
    return e;
  }

  @Test
  void parsesHostPortRepositoryAndTag() throws Exception {
    Reference r = Reference.parse("127.0.0.1:5000/org/model:v1");
    assertEquals("127.0.0.1:5000", r.registry());
    assertEquals("org/model", r.repository());
    assertEquals("v1", r.tag());
    assertEquals("latest", Reference.parse("[::1]:65535/m").tag());
  }

  @Test
  void credentialsInTheReferenceAreRefusedWithoutEchoingThem() {
    ModelCacheException e = refused("alice:S3cretPW@127.0.0.1:5078/qa/m:v1");
    assertEquals("invalid reference '***@127.0.0.1:5078/qa/m:v1': credentials do not belong in a reference; "
        + "use 'modelcache login' or the Docker config", e.getMessage());
    assertFalse(e.getMessage().contains("S3cretPW"));
    assertFalse(refused("alice@host/m").getMessage().contains("alice"));
    ModelCacheException slash = refused("alice:pa/ss@127.0.0.1:5078/qa/m:v1");
    assertEquals("invalid reference '***@127.0.0.1:5078/qa/m:v1': credentials do not belong in a reference; "
        + "use 'modelcache login' or the Docker config", slash.getMessage(), "a password with a slash in it");
    assertFalse(refused("u:p/w@h:1/m@sha256:" + "c".repeat(64)).getMessage().contains("p/w"));
  }

  @Test
  void aDigestWithoutARegistryIsNotTakenForCredentialsButATokenIs() {
    assertFalse(refused("ghp_T0KEN@my_registry/m").getMessage().contains("T0KEN"));
    String hex = "b".repeat(64);
    assertFalse(refused("model@sha256:" + hex).getMessage().contains("credentials"));
  }

  @Test
  void aDigestAfterTheRepositoryIsStillADigest() throws Exception {
    String hex = "a".repeat(64);
    assertEquals(hex, Reference.parse("host:5000/m@sha256:" + hex).digest().hex());
  }

  @Test
  void portsOutsideTheTcpRangeAreUsageErrors() {
    assertEquals("invalid reference '127.0.0.1:99999/qa/m:v1': invalid registry port 99999 (1-65535)",
        refused("127.0.0.1:99999/qa/m:v1").getMessage());
    assertEquals("invalid reference 'h:0/m': invalid registry port 0 (1-65535)", refused("h:0/m").getMessage());
    assertEquals("invalid reference '[::1]:70000/m': invalid registry port 70000 (1-65535)",
        refused("[::1]:70000/m").getMessage());
  }

  @Test
  void aRegistryOnItsOwnIsHostAndPortOnly() throws Exception {
    assertEquals("127.0.0.1:5078", Reference.parseRegistry("127.0.0.1:5078"));
    assertEquals("[::1]:5000", Reference.parseRegistry("[::1]:5000"));
    assertEquals("invalid registry '127.0.0.1:5078/qa/m:v1': that is a reference; give only its registry, '127.0.0.1:5078'",
        assertThrows(ModelCacheException.class, () -> Reference.parseRegistry("127.0.0.1:5078/qa/m:v1")).getMessage());
    assertEquals("invalid registry '': empty",
        assertThrows(ModelCacheException.class, () -> Reference.parseRegistry("")).getMessage());
    assertEquals("invalid registry 'h:99999': port 99999 (1-65535)",
        assertThrows(ModelCacheException.class, () -> Reference.parseRegistry("h:99999")).getMessage());
    assertEquals("invalid registry 'bad host': expected host[:port]",
        assertThrows(ModelCacheException.class, () -> Reference.parseRegistry("bad host")).getMessage());
    assertEquals("invalid registry '***@h:1': credentials do not belong here",
        assertThrows(ModelCacheException.class, () -> Reference.parseRegistry("alice:pw@h:1")).getMessage());
  }
}
