package io.modelcache.fuse.kernel;

import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.util.ArrayList;
import java.util.List;

/**
 * The outcome of INIT: what the kernel offered and what this server took.
 *
 * @param kernelMajor the kernel's protocol major version
 * @param kernelMinor the kernel's protocol minor version
 * @param minor the minor version this server answered with
 * @param offered the kernel's flags (bits 32..63 from flags2)
 * @param taken the flags answered
 * @param maxPages pages per request answered
 * @param maxReadahead the read-ahead answered (bytes)
 * @param requestTimeoutSeconds the FUSE request timeout answered (0: none)
 */
public record Negotiated(int kernelMajor, int kernelMinor, int minor, long offered, long taken, int maxPages,
    int maxReadahead, int requestTimeoutSeconds) {
  public Negotiated(int kernelMajor, int kernelMinor, int minor, long offered, long taken, int maxPages,
      int maxReadahead) {
    this(kernelMajor, kernelMinor, minor, offered, taken, maxPages, maxReadahead, 0);
  }

  public boolean passthroughOffered() {
    return (offered & FuseAbi.PASSTHROUGH) != 0;
  }

  public boolean passthrough() {
    return (taken & FuseAbi.PASSTHROUGH) != 0;
  }

  /** The largest read request the kernel sends, in bytes. */
  public int maxReadBytes() {
    return (taken & FuseAbi.MAX_PAGES) != 0 ? maxPages * 4096 : 32 * 4096;
  }

  /** One line for the log: versions, request size, and each feature taken or left. */
  public String describe() {
    List<String> f = new ArrayList<>();
    f.add(feature("async_read", FuseAbi.ASYNC_READ));
    f.add(feature("parallel_dirops", FuseAbi.PARALLEL_DIROPS));
    f.add(feature("readdirplus", FuseAbi.DO_READDIRPLUS));
    f.add(passthroughOffered() ? (passthrough() ? "passthrough" : "passthrough offered, not asked")
        : "no passthrough (not offered)");
    f.add((taken & FuseAbi.REQUEST_TIMEOUT) != 0 ? "request timeout " + requestTimeoutSeconds + " s"
        : (offered & FuseAbi.REQUEST_TIMEOUT) != 0 ? "request timeout offered, not asked" : "no request timeout (not offered)");
    return "FUSE kernel protocol " + kernelMajor + "." + kernelMinor + ", answered 7." + minor
        + ": reads up to " + (maxReadBytes() / 1024) + " KiB, " + String.join(", ", f);
  }

  private String feature(String name, long bit) {
    return (taken & bit) != 0 ? name : "no " + name;
  }
}
