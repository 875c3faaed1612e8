package io.modelcache.modelpack;

import io.modelcache.cache.ChunkDigests;
import io.modelcache.chunkindex.ChunkIndex;

/**
 * Options of {@code modelcache push}: {@code tar} wraps each file in its own tar layer instead of a raw
 * layer; {@code parallelism} blob uploads at once; {@code name} for the config (null: the Modelfile's
 * NAME, else the directory name). Files are pushed byte for byte: padding safetensors headers to a
 * 4 KiB data start was measured and did not speed up mmap loads (docs/performance.md), so it is not
 * offered. {@code indexChunkSize}: the chunk size of the chunk digest index pushed after the model
 * (a power of two from 4 KiB to 1 GiB), 0 for no index. {@code hashFirst}: hash every file before
 * uploading it (two reads), so blobs the registry already has are skipped; by default a registry
 * that takes streamed uploads gets each large file in one read, hashed on the way, and is sent it
 * even when it has it already.
 */
public record PushOptions(boolean tar, int parallelism, String name, int indexChunkSize, boolean hashFirst) {
  public PushOptions {
    if (parallelism < 1) {
      throw new IllegalArgumentException("parallelism must be at least 1");
    }
    if (indexChunkSize != 0 && (indexChunkSize < ChunkDigests.MIN_GRANULE || indexChunkSize > ChunkDigests.MAX_GRANULE
        || Integer.bitCount(indexChunkSize) != 1)) {
      throw new IllegalArgumentException("index chunk size must be a power of two from 4 KiB to 1 GiB, got "
          + indexChunkSize);
    }
  }

  public PushOptions(boolean tar, int parallelism, String name, int indexChunkSize) {
    this(tar, parallelism, name, indexChunkSize, false);
  }

  /** With the default chunk digest index (4 MiB chunks). */
  public PushOptions(boolean tar, int parallelism, String name) {
    this(tar, parallelism, name, ChunkIndex.DEFAULT_CHUNK_SIZE);
  }

  public PushOptions withIndexChunkSize(int size) {
    return new PushOptions(tar, parallelism, name, size, hashFirst);
  }

  public PushOptions withHashFirst(boolean v) {
    return new PushOptions(tar, parallelism, name, indexChunkSize, v);
  }

  public static PushOptions defaults() {
    return new PushOptions(false, 4, null);
  }
}
