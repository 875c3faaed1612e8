package io.modelcache.cache;

/** Lifecycle of one cached blob, persisted in the index. */
public enum BlobState {
  /** Some or no chunks present, or all present but the whole-blob digest not yet checked. */
  PARTIAL,
  /** Every chunk present and the blob's digest verified. */
  COMPLETE,
  /** The blob's digest did not match; its data was dropped and it is never served again until evicted. */
  FAILED
}
