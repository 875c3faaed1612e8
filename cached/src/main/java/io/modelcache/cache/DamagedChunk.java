package io.modelcache.cache;

import java.io.IOException;

/**
 * A chunk read back from its cache file did not match the CRC32C recorded when it was written. It has
 * been dropped ({@link Eviction#dropDamaged}); the read that found it fetches it again.
 */
final class DamagedChunk extends IOException {
  DamagedChunk(Blob b, int i) {
    super("chunk " + i + " of blob " + b.spec.digest() + " was damaged in cache file " + b.file);
  }
}
