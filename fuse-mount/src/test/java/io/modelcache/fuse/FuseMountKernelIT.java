package io.modelcache.fuse;

/** The conformance suite on the kernel-protocol transport (FFM on /dev/fuse, 1 MiB requests). */
class FuseMountKernelIT extends FuseMountSuite {
  @Override
  FuseTransport transport() {
    return FuseTransport.kernel();
  }

  @Override
  int maxRequestBytes() {
    return 1024 * 1024;
  }
}
