package io.modelcache.fuse.kernel;

/**
 * What this server asks of the kernel in INIT.
 *
 * @param maxPages pages per request (256: 1 MiB reads)
 * @param maxBackground background (read-ahead) requests the kernel keeps in flight per mount
 * @param passthrough ask for FUSE_PASSTHROUGH when the kernel offers it (only then may opens
 *     answer FOPEN_PASSTHROUGH)
 */
public record InitConfig(int maxPages, int maxBackground, boolean passthrough) {
  /** The write size asked for: small, since nothing is ever written (it sizes request buffers). */
  public static final int MAX_WRITE = 64 * 1024;

  public static InitConfig defaults() {
    return new InitConfig(256, 16, false);
  }

  public InitConfig withPassthrough(boolean v) {
    return new InitConfig(maxPages, maxBackground, v);
  }

  /** Bytes a request buffer needs: the largest write request plus headers (never below 8 KiB). */
  public static int requestBufferSize() {
    return MAX_WRITE + 8192;
  }

  /** Bytes a reply buffer needs: the largest read reply plus its header. */
  public int replyBufferSize() {
    return maxPages * 4096 + 4096;
  }
}
