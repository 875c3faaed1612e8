package io.modelcache.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProfileOpsTest {
  static final Digest D = Digest.of(new byte[] {7});
  static final List<MountRecord> MOUNTS = List.of(
      new MountRecord("reg:5000/m/a:v1", D.toString(), "/mnt/a", null),
      new MountRecord("reg:5000/m/b:v1", Digest.of(new byte[] {8}).toString(), "/mnt/b", null));

  private static ProfileOps.Target resolve(String target, String dir) throws ModelCacheException {
    return ProfileOps.resolve(target, dir, MOUNTS);
  }

  private static ModelCacheException fails(String target, String dir) {
    return assertThrows(ModelCacheException.class, () -> resolve(target, dir));
  }

  @Test
  void aMountpointOrAMountedReferenceNamesTheLiveMount() throws Exception {
    assertEquals(new ProfileOps.Target("/mnt/b", null, null), resolve("../b", "/mnt/b"));
    assertEquals(new ProfileOps.Target("/mnt/a", null, null), resolve("reg:5000/m/a:v1", null));
  }

  @Test
  void aDigestNamesItselfWithOrWithoutItsAlgorithm() throws Exception {
    assertEquals(new ProfileOps.Target(null, D, null), resolve(D.toString(), null));
    assertEquals(new ProfileOps.Target(null, D, null), resolve(D.hex(), null));
    assertEquals(new ProfileOps.Target(null, D, null), resolve("reg:5000/m/c@" + D, null));
  }

  @Test
  void anUnmountedReferenceIsLeftForTheRegistry() throws Exception {
    assertEquals(new ProfileOps.Target(null, null, Reference.parse("reg:5000/m/c:v2")), resolve("reg:5000/m/c:v2", null));
  }

  @Test
  void unknownTargetsAreOneLineUsageErrors() {
    ModelCacheException e = fails("/srv/x", null);
    assertEquals("/srv/x is not a ModelCache mount", e.getMessage());
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
    assertEquals("/home/u/plain is not a ModelCache mount", fails("plain", "/home/u/plain").getMessage());
    assertEquals("invalid digest 'sha256:abc' (expected sha256:<64 hex>)", fails("sha256:abc", null).getMessage());
    assertEquals("invalid reference 'nohost': expected host[:port]/repository[:tag][@digest] or oci:PATH[:TAG]",
        fails("nohost", null).getMessage());
    assertEquals("profile export needs a model reference, mountpoint or manifest digest", fails(" ", null).getMessage());
  }
}
