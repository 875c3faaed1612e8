package io.modelcache.fuse;

/** The conformance suite on the jnr-fuse transport (libfuse2, 128 KiB requests). */
class FuseMountJnrIT extends FuseMountSuite {
  @Override
  FuseTransport transport() {
    return FuseTransport.jnr();
  }

  @Override
  int maxRequestBytes() {
    return FuseMount.MAX_READ;
  }
}
