package io.modelcache.cache;

/** How a layer blob stores the file's bytes. */
public enum Encoding {
  /** The file's bytes sit verbatim in the blob (a raw layer, or a member of an uncompressed tar). */
  RAW,
  /** The blob is a gzip stream; the file's bytes are a range of the decompressed stream. */
  GZIP,
  /** The blob is a zstd stream; the file's bytes are a range of the decompressed stream. */
  ZSTD
}
