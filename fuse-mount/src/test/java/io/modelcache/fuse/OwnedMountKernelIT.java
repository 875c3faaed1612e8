package io.modelcache.fuse;

/** A user's mount on the kernel transport. */
class OwnedMountKernelIT extends OwnedMountSuite {
  @Override
  FuseTransport transport() {
    return FuseTransport.kernel();
  }
}
