package io.modelcache.fuse;

import io.modelcache.fuse.kernel.Negotiated;

/**
 * What it takes to hand a kernel-transport mount's FUSE connection to another process: the
 * connection's own /dev/fuse descriptor (the one mount(2) got), the clone the server reads and
 * answers on (it must be kept too: closing the last descriptor of a clone ends the requests read
 * through it but not yet answered), the mount's device number (its /sys/fs/fuse/connections entry)
 * and what INIT negotiated (an adopted connection gets no INIT). The descriptors stay owned by the
 * mount; a keeper takes duplicates.
 */
public record LiveConnection(int sessionFd, int serveFd, long device, Negotiated negotiated) {
  /** The connection's number under /sys/fs/fuse/connections (the kernel's encoding of the device). */
  public long fusectlId() {
    return (FuseMount.major(device) << 20) | FuseMount.minor(device);
  }
}
