package io.modelcache.cache;

import io.modelcache.cache.ChunkCache.ChunkRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Persistence and recovery: the Chronicle Map index, the file-system probes, restart after a crash.
 *
 * <p><b>Why CRC32C per chunk and no fsync.</b> An fsync per chunk would cap throughput at the
 * disk's flush rate. Instead each chunk's CRC32C is recorded with its presence bit, and a clean
 * shutdown leaves a {@code CLEAN} marker. Without the marker, the index is opened with Chronicle's
 * recovery and every chunk marked present is read back and checked; chunks that fail are dropped
 * and refetched on demand. A torn write can therefore cost a refetch, never a wrong byte.
 *
 * <p>Threading: loading runs once, before the cache is shared; persisting a blob or a group of
 * chunks is guarded by the blob's persist lock.
 */
final class Recovery {
  private static final Logger LOG = LoggerFactory.getLogger(Recovery.class);
  private final ChunkCache cache;
  private final Path blobsDir;
  private final CacheIndex index;
  private final ConcurrentHashMap<String, Blob> blobs;
  private final LruPolicy<ChunkRef> policy;
  private final AtomicLong used;
  private final boolean directIo;
  private final int align;

  Recovery(ChunkCache cache) {
    this.cache = cache;
    this.blobsDir = cache.blobsDir;
    this.index = cache.index;
    this.blobs = cache.blobs;
    this.policy = cache.policy;
    this.used = cache.used;
    this.directIo = cache.directIo;
    this.align = cache.align;
  }

  /** Whether the cache directory takes O_DIRECT writes (tmpfs, for one, does not). */
  static boolean probeDirectIo(Path dir, int align) {
    Path probe = dir.resolve(".direct-io-probe");
    try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
      ByteBuffer b = ByteBuffer.allocateDirect(2 * align).alignedSlice(align).limit(align);
      ch.write(b, 0);
      return true;
    } catch (IOException | RuntimeException e) {
      LOG.info("cache directory {} does not support O_DIRECT ({}); using buffered writes", dir, e.toString());
      return false;
    } finally {
      try {
        Files.deleteIfExists(probe);
      } catch (IOException ignored) {
        // a stray probe file is deleted at the next open
      }
    }
  }
  void persistBlob(Blob b) {
    if (cache.closed && index == null) {
      return;
    }
    synchronized (b.persistLock) {
      if (!b.removed) {
        index.putBlob(b.key, b.spec, b.chunkSize, b.state, b.lastAccess, b.trusted);
      }
    }
  }

  void persistGroup(Blob b, int g) {
    if (cache.closed) {
      return;
    }
    synchronized (b.persistLock) {
      if (!b.removed) {
        index.putGroup(b.key, g, b.present.get(g), b.crc, b.trusted);
      }
    }
  }

  /** Rebuilds the in-memory state from the index; with {@code verifyChunks}, re-checks every CRC. */
  void load(boolean verifyChunks) throws IOException {
    for (CacheIndex.BlobRecord r : index.blobs()) {
      int cs = r.chunkSize();
      if (cs < CacheConfig.MIN_CHUNK_SIZE || cs > CacheConfig.MAX_CHUNK_SIZE || Integer.bitCount(cs) != 1) {
        index.removeBlob(r.key(), 0);
        continue;
      }
      Blob b = new Blob(r.spec(), cs, blobsDir.resolve(r.key()), directIo);
      b.state = r.state();
      b.lastAccess = r.lastAccess();
      b.trusted = r.trusted() && r.state() != BlobState.FAILED;
      blobs.put(r.key(), b);
    }
    index.groups((key, g, bits, crcs) -> {
      Blob b = blobs.get(key);
      if (b == null || b.state == BlobState.FAILED || g >= b.present.length()) {
        return false;
      }
      for (int j = 0; j < CacheIndex.GROUP; j++) {
        int i = g * CacheIndex.GROUP + j;
        if (i < b.nChunks && ((bits & (1L << j)) != 0 || b.trusted)) {
          b.crc[i] = crcs[j];
        }
        if (i < b.nChunks && (bits & (1L << j)) != 0) {
          b.setPresent(i);
        }
      }
      return bits != 0 || b.trusted;
    });
    List<Blob> sorted = new ArrayList<>(blobs.values());
    sorted.sort((x, y) -> Long.compare(x.lastAccess, y.lastAccess));
    long checkStart = System.nanoTime();
    long checkedBytes = 0;
    int checkedBlobs = 0;
    int droppedChunks = 0;
    for (Blob b : sorted) {
      if (b.state == BlobState.FAILED) {
        Files.deleteIfExists(b.file);
        continue;
      }
      if (verifyChunks || !fileCoversChunks(b)) {
        checkedBytes += b.cachedBytes.get();
        checkedBlobs++;
        int bad = cache.atRest.check(b, false);
        droppedChunks += bad;
        if (bad > 0) {
          LOG.warn("blob {}: dropped {} chunk(s) that failed their checksum after an unclean stop", b.key, bad);
        }
      }
      if (b.state == BlobState.COMPLETE && !b.allPresent()) {
        b.state = BlobState.PARTIAL;
        persistBlob(b);
      }
      b.resetHash();
      if (b.presentCount.get() == 0 && b.nChunks > 0) {
        // Housekeeping: a blob with nothing cached costs index space only (its known-good CRCs
        // are the one thing lost), so the index stays proportional to the budget.
        blobs.remove(b.key);
        index.removeBlob(b.key, b.present.length());
        Files.deleteIfExists(b.file);
        continue;
      }
      for (int i = 0; i < b.nChunks; i++) {
        if (b.isPresent(i)) {
          policy.add(new ChunkRef(b, i), b.chunkLen(i), b.lastAccess);
        }
      }
    }
    if (checkedBlobs > 0) {
      // Said because it is where a restart after a crash spends its time: every cached byte is read back.
      LOG.info("checked {} MiB of cached chunks in {} blob(s) in {} ms{}; {} chunk(s) dropped", checkedBytes >> 20,
          checkedBlobs, (System.nanoTime() - checkStart) / 1_000_000, verifyChunks ? " after an unclean stop" : "",
          droppedChunks);
    }
    long total = 0;
    for (Blob b : blobs.values()) {
      total += b.cachedBytes.get();
    }
    used.set(total);
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(blobsDir)) {
      for (Path p : ds) {
        Blob b = blobs.get(p.getFileName().toString());
        if (b == null || b.state == BlobState.FAILED) {
          Files.deleteIfExists(p);
        }
      }
    }
    cache.eviction.maybeEvict();
  }

  /** Cheap sanity check on a clean start: the file exists and reaches its last present chunk. */
  private static boolean fileCoversChunks(Blob b) throws IOException {
    if (b.presentCount.get() == 0) {
      return true;
    }
    if (!Files.exists(b.file)) {
      return false;
    }
    for (int i = b.nChunks - 1; i >= 0; i--) {
      if (b.isPresent(i)) {
        return Files.size(b.file) >= b.chunkStart(i) + b.chunkLen(i);
      }
    }
    return true;
  }
}
