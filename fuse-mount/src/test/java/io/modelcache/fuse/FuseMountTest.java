package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class FuseMountTest {
  @Test
  void decodesLinuxDevNumbers() {
    assertEquals(0, FuseMount.major(39));
    assertEquals(39, FuseMount.minor(39));
    assertEquals(8, FuseMount.major(0x0801));
    assertEquals(1, FuseMount.minor(0x0801));
    // glibc makedev(0x123, 0x45678) = 0x0000012345600678... computed by hand:
    long dev = ((0x123L & 0xfffL) << 8) | ((0x123L & ~0xfffL) << 32)
        | (0x45678L & 0xffL) | ((0x45678L & ~0xffL) << 12);
    assertEquals(0x123, FuseMount.major(dev));
    assertEquals(0x45678, FuseMount.minor(dev));
  }

  @Test
  void mountOptionsAreReadOnlyCachedAndNeverDirectIo() {
    String o = FuseMount.mountOptions(FuseOptions.defaults());
    assertEquals("ro,default_permissions,kernel_cache,allow_other,fsname=modelcache,subtype=modelcache,"
        + "max_read=131072,attr_timeout=3600,entry_timeout=3600,negative_timeout=3600", o);
    assertFalse(FuseMount.mountOptions(FuseOptions.defaults().withAllowOther(false)).contains("allow_other"));
  }

  @Test
  void argsRunInTheForegroundMultithreaded() {
    assertArrayEquals(new String[] {"x", "-f", "-d", "-o",
            FuseMount.mountOptions(FuseOptions.defaults().withFsName("x")), "/mnt/a"},
        FuseMount.args(Path.of("/mnt/a"), FuseOptions.defaults().withFsName("x").withDebug(true)));
  }

  @Test
  void aUsersMountIsHersForTheKernelAndKeepsRootsCaching() {
    FuseOptions hers = FuseOptions.defaults().withOwner(1001, 100).withAllowOther(false);
    assertEquals("fd=7,rootmode=40000,user_id=1001,group_id=100,default_permissions,max_read=131072",
        OwnedMount.kernelOptions(7, hers));
    assertEquals("fd=7,rootmode=40000,user_id=1001,group_id=100,default_permissions,allow_other,max_read=131072",
        OwnedMount.kernelOptions(7, hers.withAllowOther(true)));
    assertArrayEquals(new String[] {"modelcache", "-o", "kernel_cache,attr_timeout=3600,entry_timeout=3600,negative_timeout=3600"},
        OwnedMount.libOptions(hers));
  }

  @Test
  void unescapesMountinfo() {
    assertEquals("/tmp/a b\\c", FuseMount.unescape("/tmp/a\\040b\\134c"));
    assertEquals("/plain", FuseMount.unescape("/plain"));
    assertEquals("/odd\\", FuseMount.unescape("/odd\\"));
  }

  @Test
  void optionsValidateAndWithersKeepTheRest() {
    FuseOptions d = FuseOptions.defaults();
    assertEquals(true, d.allowOther());
    assertEquals(1024, d.readAheadKb());
    assertEquals(Duration.ofSeconds(1), d.slowCallThreshold());
    FuseOptions o = d.withReadAheadKb(128).withSubtype("x").withSlowCallThreshold(Duration.ofMillis(5));
    assertEquals(new FuseOptions(true, 128, "modelcache", "x", false, null, Duration.ofMillis(5), 0, 0), o);
    assertThrows(IllegalArgumentException.class, () -> d.withFsName("a,allow_root"));
    assertThrows(IllegalArgumentException.class, () -> d.withSubtype(""));
    assertThrows(IllegalArgumentException.class, () -> d.withReadAheadKb(-1));
  }

  @Test
  void mountingOnAMissingDirectoryFailsClearly() {
    java.io.IOException e = assertThrows(java.io.IOException.class,
        () -> FuseMount.mount(Path.of("/definitely/not/there"), MemoryTree.sample(), FuseOptions.defaults()));
    assertEquals("cannot mount on /definitely/not/there: not a directory", e.getMessage());
  }

  @Test
  void aPathThatIsNotMountedIsNeitherMountPointNorStale() {
    assertFalse(FuseMount.isMountPoint(Path.of("/definitely/not/mounted")));
    assertFalse(FuseMount.isStaleMount(Path.of("/definitely/not/mounted")));
  }
}
