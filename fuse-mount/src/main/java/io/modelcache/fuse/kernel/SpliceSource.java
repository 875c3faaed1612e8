package io.modelcache.fuse.kernel;

/**
 * Opt-in for a {@link io.modelcache.fuse.ReadOnlyTree.FileReader} whose bytes lie in a file on disk:
 * the kernel transport may then answer a READ by splicing the range from that descriptor into the
 * FUSE device (header and data through a pipe, {@link SpliceReply}) instead of copying it into its
 * reply buffer and writing that. Measured against the write(2) path in issue 10 (see
 * docs/performance.md, "Splice replies against write(2)"); no production reader implements it.
 */
public interface SpliceSource {
  /** {@code length} bytes of the file at {@code fd} from {@code fdOffset}. */
  record Range(int fd, long fdOffset, int length) {}

  /**
   * Where the reader's bytes {@code [offset, offset + len)} are, as one range of one descriptor
   * (open for reading as long as the reader is), or null to serve this read through
   * {@code read}. The range is shorter than {@code len} only at end of file (zero past it).
   */
  Range spliceRange(long offset, int len);
}
