package io.modelcache.fuse;

/** A user's mount on the jnr transport. */
class OwnedMountJnrIT extends OwnedMountSuite {
  @Override
  FuseTransport transport() {
    return FuseTransport.jnr();
  }
}
