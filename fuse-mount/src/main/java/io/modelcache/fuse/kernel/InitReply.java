package io.modelcache.fuse.kernel;

import static io.modelcache.fuse.kernel.Wire.set16;
import static io.modelcache.fuse.kernel.Wire.set32;
import static io.modelcache.fuse.kernel.Wire.u32;
import static io.modelcache.fuse.kernel.sys.FuseAbi.off;

import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.lang.foreign.MemorySegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The answer to the kernel's INIT: takes what it offers of what this server wants (async reads,
 * parallel dirops, 1 MiB requests, readdirplus, and passthrough and the request timeout when
 * configured), answers with the lower minor version, and encodes {@code fuse_init_out}. Pure.
 */
final class InitReply {
  private static final Logger LOG = LoggerFactory.getLogger(KernelFs.class);

  private InitReply() {}

  private static final long I_MAJOR = off(FuseAbi.INIT_IN, "major");
  private static final long I_MINOR = off(FuseAbi.INIT_IN, "minor");
  private static final long I_READAHEAD = off(FuseAbi.INIT_IN, "max_readahead");
  private static final long I_FLAGS = off(FuseAbi.INIT_IN, "flags");
  private static final long I_FLAGS2 = off(FuseAbi.INIT_IN, "flags2");

  /** The flags this server takes when offered (passthrough only when configured). */
  static long wanted(InitConfig config) {
    return FuseAbi.ASYNC_READ | FuseAbi.PARALLEL_DIROPS | FuseAbi.MAX_PAGES | FuseAbi.DO_READDIRPLUS
        | FuseAbi.INIT_EXT | (config.passthrough() ? FuseAbi.PASSTHROUGH : 0)
        | (config.requestTimeoutSeconds() > 0 ? FuseAbi.REQUEST_TIMEOUT : 0);
  }

  /**
   * Writes the reply to the INIT in {@code arg} at the start of {@code p} (its length in
   * {@code out[0]}) and returns what was agreed; null, and no reply, when the kernel speaks another
   * major version.
   */
  static Negotiated answer(InitConfig config, MemorySegment arg, MemorySegment p, int[] out) {
    int major = u32(arg, I_MAJOR);
    int minor = u32(arg, I_MINOR);
    if (major != FuseAbi.KERNEL_VERSION) {
      LOG.error("the kernel speaks FUSE protocol {}.{}; this server speaks 7.x only", major, minor);
      return null;
    }
    long offered = Integer.toUnsignedLong(u32(arg, I_FLAGS));
    if ((offered & FuseAbi.INIT_EXT) != 0 && arg.byteSize() >= I_FLAGS2 + 4) {
      offered |= Integer.toUnsignedLong(u32(arg, I_FLAGS2)) << 32;
    }
    long taken = offered & wanted(config);
    int readahead = u32(arg, I_READAHEAD);
    int ourMinor = Math.min(minor, FuseAbi.OUR_MINOR);
    boolean passthrough = (taken & FuseAbi.PASSTHROUGH) != 0;
    MemorySegment o = p.asSlice(0, FuseAbi.INIT_OUT.byteSize());
    o.fill((byte) 0);
    set32(o, off(FuseAbi.INIT_OUT, "major"), FuseAbi.KERNEL_VERSION);
    set32(o, off(FuseAbi.INIT_OUT, "minor"), ourMinor);
    set32(o, off(FuseAbi.INIT_OUT, "max_readahead"), readahead);
    set32(o, off(FuseAbi.INIT_OUT, "flags"), (int) taken);
    set16(o, off(FuseAbi.INIT_OUT, "max_background"), config.maxBackground());
    set16(o, off(FuseAbi.INIT_OUT, "congestion_threshold"), config.maxBackground() * 3 / 4);
    set32(o, off(FuseAbi.INIT_OUT, "max_write"), InitConfig.MAX_WRITE);
    set32(o, off(FuseAbi.INIT_OUT, "time_gran"), 1);
    set16(o, off(FuseAbi.INIT_OUT, "max_pages"), config.maxPages());
    set32(o, off(FuseAbi.INIT_OUT, "flags2"), (int) (taken >>> 32));
    set32(o, off(FuseAbi.INIT_OUT, "max_stack_depth"), passthrough ? 1 : 0);
    // The kernel reads request_timeout under FUSE_REQUEST_TIMEOUT whatever minor is answered.
    int timeout = (taken & FuseAbi.REQUEST_TIMEOUT) != 0 ? config.requestTimeoutSeconds() : 0;
    set16(o, off(FuseAbi.INIT_OUT, "request_timeout"), timeout);
    out[0] = (int) FuseAbi.INIT_OUT.byteSize();
    return new Negotiated(major, minor, ourMinor, offered, taken, config.maxPages(), readahead, timeout);
  }
}
