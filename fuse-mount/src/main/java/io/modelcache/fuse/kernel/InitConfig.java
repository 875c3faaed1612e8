package io.modelcache.fuse.kernel;

/**
 * What this server asks of the kernel in INIT.
 *
 * @param maxPages pages per request (256: 1 MiB reads)
 * @param maxBackground background (read-ahead) requests the kernel keeps in flight per mount
 * @param passthrough ask for FUSE_PASSTHROUGH when the kernel offers it (only then may opens
 *     answer FOPEN_PASSTHROUGH)
 * @param requestTimeoutSeconds ask for FUSE_REQUEST_TIMEOUT with this many seconds when the kernel
 *     offers it (7.43+): the kernel aborts the connection once a request has waited that long for
 *     its answer, whoever should have given it (a hung server, or no server at all). 0: not asked.
 *     At most 65535 (a u16 in {@code fuse_init_out})
 * @param spliceReplies answer READs of daemon-served files that have a backing file by splicing
 *     from it ({@link SplicedFile}, {@link SpliceReply}); nothing to negotiate, but this server's
 *     choice belongs with the rest
 */
public record InitConfig(int maxPages, int maxBackground, boolean passthrough, int requestTimeoutSeconds,
    boolean spliceReplies) {
  /** The write size asked for: small, since nothing is ever written (it sizes request buffers). */
  public static final int MAX_WRITE = 64 * 1024;
  public static final int MAX_REQUEST_TIMEOUT = 65535;

  public InitConfig {
    if (requestTimeoutSeconds < 0 || requestTimeoutSeconds > MAX_REQUEST_TIMEOUT) {
      throw new IllegalArgumentException("request timeout must be 0.." + MAX_REQUEST_TIMEOUT + " s: " + requestTimeoutSeconds);
    }
  }

  public InitConfig(int maxPages, int maxBackground, boolean passthrough) {
    this(maxPages, maxBackground, passthrough, 0, true);
  }

  public static InitConfig defaults() {
    return new InitConfig(256, 16, false, 0, true);
  }

  public InitConfig withPassthrough(boolean v) {
    return new InitConfig(maxPages, maxBackground, v, requestTimeoutSeconds, spliceReplies);
  }

  public InitConfig withRequestTimeoutSeconds(int v) {
    return new InitConfig(maxPages, maxBackground, passthrough, v, spliceReplies);
  }

  public InitConfig withSpliceReplies(boolean v) {
    return new InitConfig(maxPages, maxBackground, passthrough, requestTimeoutSeconds, v);
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
