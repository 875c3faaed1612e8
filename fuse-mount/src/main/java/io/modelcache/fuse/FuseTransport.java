package io.modelcache.fuse;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * How a {@link ReadOnlyTree} reaches the kernel. Two transports serve the same tree with the same
 * {@link CallWrapper}, options, mount lines and unmount: {@code kernel} ({@link KernelTransport}:
 * the FUSE kernel protocol on /dev/fuse through the FFM API, no libfuse; the default) and
 * {@code jnr} ({@link JnrTransport}: libfuse2 through jnr-fuse; the portable one).
 *
 * <p>Threading: implementations are thread-safe; mounts may be made concurrently.
 */
public interface FuseTransport {
  /** "kernel" or "jnr": the name used in the config ({@code fuse.transport}) and in logs. */
  String name();

  /**
   * Mounts {@code tree} read-only on {@code mountpoint} (an existing, empty directory; with an
   * owner other than root, a directory she owns) and returns once the kernel can use it.
   *
   * @throws FuseUnavailableException when a FUSE piece this transport needs is missing or unusable
   * @throws IOException when the mountpoint is unusable or the mount fails
   */
  Mounted mount(Path mountpoint, ReadOnlyTree tree, FuseOptions options) throws IOException;

  /** Why this transport cannot work in this process at all (one line), or null when it can. */
  String unavailableReason();

  /**
   * Does the one-time native setup of the first mount ahead of time (binding, class generation,
   * serving threads) without mounting anything; a daemon calls it on a background thread at start.
   *
   * @throws Throwable whatever binding throws when a native piece is missing (a mount then fails too)
   */
  void prepare();

  /** Whether mounts of this transport need libfuse.so.2 (only jnr does). */
  boolean needsLibfuse2();

  static FuseTransport kernel() {
    return KernelTransport.defaults();
  }

  static FuseTransport jnr() {
    return JnrTransport.INSTANCE;
  }

  /** The transport called {@code name} ("kernel" or "jnr", any case). */
  static FuseTransport named(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "kernel" -> kernel();
      case "jnr" -> jnr();
      default -> throw new IllegalArgumentException("unknown FUSE transport '" + name + "' (kernel or jnr)");
    };
  }
}
