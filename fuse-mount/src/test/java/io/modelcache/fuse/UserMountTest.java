package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** What fusermount3 is asked for: the kernel's options only (it adds rootmode, user_id, nosuid, nodev). */
class UserMountTest {
  @Test
  void optionsAreReadOnlyWithTheNamesAndAllowOtherOnlyWhenAsked() {
    FuseOptions o = FuseOptions.defaults().withFsName("modelcache:reg/m:v1");
    assertEquals("ro,default_permissions,allow_other,fsname=modelcache:reg/m:v1,subtype=modelcache", UserMount.options(o));
    assertEquals("ro,default_permissions,fsname=modelcache:reg/m:v1,subtype=modelcache",
        UserMount.options(o.withAllowOther(false)));
  }
}
