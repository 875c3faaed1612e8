package io.modelcache.mount;

import io.modelcache.cache.BlobFetcher;
import io.modelcache.cache.BlobHandle;
import io.modelcache.cache.BlobSpec;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.ChunkDigests;
import io.modelcache.cache.Encoding;
import io.modelcache.fetch.MountPrefetcher;
import io.modelcache.fetch.PrefetchObserver;
import io.modelcache.fetch.ReadAheadOptions;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One mounted model: its artifact (pinned by manifest digest) shown as a read-only tree, each
 * file served from a blob handle of the shared chunk cache. Handles are opened at mount time and
 * held until unmount, so blobs in use are never evicted as a whole and the cached fraction is cheap
 * to report. With {@link ReadAheadOptions} a {@link MountPrefetcher} reads ahead of each open file
 * in loader order and fills the cache in the background. Thread-safe.
 */
public final class ModelMount implements ReadOnlyTree, Closeable {
  public static final String XATTR_DIGEST = "user.modelcache.digest";
  public static final String XATTR_MANIFEST = "user.modelcache.manifest";
  public static final String XATTR_REFERENCE = "user.modelcache.reference";

  /** A file of the mount and the cache handle that serves it. */
  public record MountedFile(ModelFile file, BlobHandle handle) {}

  private final ModelArtifact artifact;
  private final TreeIndex<MountedFile> tree;
  /** Copy-on-write: an open's {@link #readBackInBackground} walks it while an unmount may clear it. */
  private final List<BlobHandle> handles = new java.util.concurrent.CopyOnWriteArrayList<>();
  private final AtomicLong bytesRead = new AtomicLong();
  private final long mountedAtNanos = System.nanoTime();
  private volatile long firstByteNanos = -1;
  private final MountPrefetcher prefetcher;
  /** Every header fetched at mount (the read plan being built); null without read-ahead. */
  private final java.util.concurrent.CompletableFuture<?> headers;
  private final AtomicBoolean readAheadStarted = new AtomicBoolean();
  private final PrefetchObserver prefetchObserver;
  private volatile boolean indexed;
  private volatile boolean strict;
  private volatile boolean warming;

  /** Receives what the mount fetched from upstream; the daemon plugs metrics in here. */
  public interface FetchObserver {
    FetchObserver NONE = new FetchObserver() {
      @Override
      public void fetched(long bytes) {}

      @Override
      public void fetchCompleted(long nanos) {}
    };

    void fetched(long bytes);

    void fetchCompleted(long nanos);
  }

  public ModelMount(ModelArtifact artifact, ArtifactSource source, ChunkCache cache) throws IOException {
    this(artifact, source, cache, FetchObserver.NONE);
  }

  public ModelMount(ModelArtifact artifact, ArtifactSource source, ChunkCache cache, FetchObserver observer)
      throws IOException {
    this(artifact, source, cache, observer, ReadAheadOptions.off());
  }

  /**
   * A mount that fetches ahead of its readers as {@code readAhead} says (headers at first open,
   * read-ahead in loader order, background fill, learned profiles).
   */
  public ModelMount(ModelArtifact artifact, ArtifactSource source, ChunkCache cache, FetchObserver observer,
      ReadAheadOptions readAhead) throws IOException {
    this(artifact, source, cache, observer, readAhead, true);
  }

  /**
   * As {@link #ModelMount(ModelArtifact, ArtifactSource, ChunkCache, FetchObserver, ReadAheadOptions)},
   * but the background work (profile replay, fill) waits for {@link #startReadAhead}: a daemon starts
   * it once the mount is live, so the fill's fetches do not compete with mounting for the CPU.
   * Read-ahead of files opened before then works as usual.
   */
  public static ModelMount withReadAheadDeferred(ModelArtifact artifact, ArtifactSource source, ChunkCache cache,
      FetchObserver observer, ReadAheadOptions readAhead) throws IOException {
    return new ModelMount(artifact, source, cache, observer, readAhead, false, null);
  }

  /**
   * As {@link #withReadAheadDeferred(ModelArtifact, ArtifactSource, ChunkCache, FetchObserver,
   * ReadAheadOptions)}, checking every chunk against {@code digests} (an accepted chunk digest index,
   * by path; null: none) from the first fetch on, headers read at mount included.
   */
  public static ModelMount withReadAheadDeferred(ModelArtifact artifact, ArtifactSource source, ChunkCache cache,
      FetchObserver observer, ReadAheadOptions readAhead, Map<String, ChunkDigests> digests) throws IOException {
    return new ModelMount(artifact, source, cache, observer, readAhead, false, digests);
  }

  private ModelMount(ModelArtifact artifact, ArtifactSource source, ChunkCache cache, FetchObserver observer,
      ReadAheadOptions readAhead, boolean startReadAhead) throws IOException {
    this(artifact, source, cache, observer, readAhead, startReadAhead, null);
  }

  private ModelMount(ModelArtifact artifact, ArtifactSource source, ChunkCache cache, FetchObserver observer,
      ReadAheadOptions readAhead, boolean startReadAhead, Map<String, ChunkDigests> digests) throws IOException {
    this.artifact = artifact;
    this.prefetchObserver = readAhead.observer();
    MeteredStream.Sink sink = new MeteredStream.Sink() {
      @Override
      public void bytes(long n) {
        observer.fetched(n);
      }

      @Override
      public void done(long nanos) {
        observer.fetchCompleted(nanos);
      }
    };
    List<TreeIndex.Entry<MountedFile>> entries = new ArrayList<>();
    try {
      for (ModelFile f : artifact.files()) {
        BlobHandle h = cache.open(specOf(f), new BlobFetcher() {
          @Override
          public InputStream open(long off, long len) throws IOException {
            return open(off, len, 0);
          }

          @Override
          public InputStream open(long off, long len, int attempt) throws IOException {
            long t0 = System.nanoTime();
            return new MeteredStream(source.openBlob(f.layer().digest(), off, len, attempt), sink, t0);
          }
        });
        handles.add(h);
        if (digests != null && digests.containsKey(f.path())) {
          h.verifyWith(digests.get(f.path()));
          indexed = true;
        }
        NodeAttributes attrs = new NodeAttributes(false, f.size(), f.mode() & 07777, f.uid(), f.gid(),
            f.mtime().getEpochSecond(), f.mtime().getNano());
        entries.add(new TreeIndex.Entry<>(f.path(), attrs, new MountedFile(f, h)));
      }
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
    long created = artifact.files().stream().mapToLong(f -> f.mtime().getEpochSecond()).max().orElse(0);
    try {
      this.tree = TreeIndex.build(entries, NodeAttributes.directory(0755, created));
    } catch (RuntimeException e) {
      close();
      throw e;
    }
    if (readAhead.enabled() || readAhead.profileDir() != null) {
      Map<String, BlobHandle> byPath = new LinkedHashMap<>();
      for (TreeIndex.Entry<MountedFile> e : entries) {
        byPath.put(e.relativePath(), e.file().handle());
      }
      this.prefetcher = new MountPrefetcher(byPath, cache, artifact.manifest().digest(), readAhead);
      this.headers = this.prefetcher.fetchHeaders(); // while the mount is set up: the loader's first reads
      if (startReadAhead) {
        startReadAhead();
      }
    } else {
      this.prefetcher = null;
      this.headers = null;
    }
  }

  /**
   * The cache identity of a file's bytes. A raw layer is keyed by its digest alone, so every mount and
   * model that shares the blob shares the bytes. A tar layer may hold several files, so its key adds
   * the content offset, as compressed layers' keys do.
   */
  public static BlobSpec specOf(ModelFile f) {
    Digest d = f.layer().digest();
    long size = f.layer().size();
    return switch (f.format()) {
      case RAW -> BlobSpec.raw(d, size);
      case TAR -> new BlobSpec(d.hex() + "-" + f.contentOffset(), d, size, Encoding.RAW, f.contentOffset(), f.size());
      case TAR_GZIP -> BlobSpec.of(d, size, Encoding.GZIP, f.contentOffset(), f.size());
      case TAR_ZSTD -> BlobSpec.of(d, size, Encoding.ZSTD, f.contentOffset(), f.size());
    };
  }

  public ModelArtifact artifact() {
    return artifact;
  }

  @Override
  public NodeAttributes stat(String path) {
    return tree.stat(path);
  }

  @Override
  public List<String> list(String path) {
    return tree.list(path);
  }

  @Override
  public FileReader open(String path) throws IOException {
    MountedFile f = tree.file(path);
    if (f == null) {
      throw new NoSuchFileException(path);
    }
    MountPrefetcher.Tracker tracker = prefetcher == null ? null : prefetcher.open(f.file().path());
    return new MountReader(this, f.handle(), tracker);
  }

  /** Whether readers may be lent the cache's memory ({@link FileReader#lend}); off only to measure the copy. */
  static final boolean LEND = Boolean.parseBoolean(System.getProperty("modelcache.mount.lend", "true"));

  /**
   * The first ask for a file's backing (an open that could get passthrough or spliced replies) queues a read-back of every complete file of the
   * mount not yet read back since the daemon started (in the model's file order), so that the
   * loader's next files are ready for passthrough when it opens them. Once per mount.
   */
  void readBackInBackground() {
    if (readBackQueued.compareAndSet(false, true)) {
      for (BlobHandle h : handles) {
        h.readBackInBackground();
      }
    }
  }

  private final java.util.concurrent.atomic.AtomicBoolean readBackQueued = new java.util.concurrent.atomic.AtomicBoolean();

  /** Whether the mount is reading itself (its own check at mount): such reads are not a reader's. */
  boolean warming() {
    return warming;
  }

  /** A reader of this mount was served {@code n} bytes of {@code h}: byte counters, first byte, read-ahead use. */
  void served(BlobHandle h, boolean tracked, int n) {
    if (n > 0 && bytesRead.getAndAdd(n) == 0 && firstByteNanos < 0) {
      firstByteNanos = System.nanoTime();
    }
    if (tracked) {
      long used = h.takePrefetchUsed();
      if (used > 0) {
        prefetchObserver.used(used);
      }
    }
  }

  /**
   * Waits, at most {@code max}, until every shard's safetensors header (and the shard index) is in the
   * cache, so that a loader's first reads after the mount command returns are local. Returns whether
   * they are. A slow or failing fetch does not fail the mount: those reads then fetch on demand.
   */
  public boolean awaitHeaders(java.time.Duration max) {
    java.util.concurrent.CompletableFuture<?> h = headers;
    if (h == null) {
      return false;
    }
    try {
      h.get(max.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
      return true;
    } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException
        | java.util.concurrent.CancellationException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * What a loader reads first and the mount holds locally now, by path: the bytes before each
   * safetensors file's tensor data (8 + its header) and each shard index whole. Empty without
   * read-ahead or before {@link #awaitHeaders} succeeded.
   */
  public Map<String, Long> localHeads() {
    if (prefetcher == null || headers == null || !headers.isDone() || headers.isCompletedExceptionally()) {
      return Map.of();
    }
    Map<String, Long> out = new LinkedHashMap<>();
    for (Map.Entry<String, MountedFile> e : tree.files().entrySet()) {
      String path = e.getKey();
      BlobHandle h = e.getValue().handle();
      long want = 0;
      if (io.modelcache.fetch.ReadPlanner.isSafetensors(path)) {
        var hf = prefetcher.header(path);
        var hd = hf.isDone() && !hf.isCompletedExceptionally() ? hf.join() : null;
        want = hd == null ? 0 : hd.dataStart();
      } else if (io.modelcache.fetch.ReadPlanner.isShardIndex(path)) {
        want = h.spec().contentLength();
      }
      if (want > 0 && h.isCached(0, want)) {
        out.put(path, want);
      }
    }
    return out;
  }

  /**
   * While set, reads through this mount are the daemon's own (reading {@link #localHeads} through the
   * kernel before the mount command answers): they neither drive read-ahead nor count as a reader's.
   */
  public void warming(boolean on) {
    warming = on;
  }

  /**
   * The background fill waits until {@link #answered} (a loader's first reads come right after the
   * mount command returns and should not share the CPU with fill fetches); call before
   * {@link #startReadAhead}.
   */
  public void holdFillUntilAnswered() {
    if (prefetcher != null) {
      prefetcher.holdFillUntilAnswered();
    }
  }

  /** The mount command has answered its caller; see {@link #holdFillUntilAnswered}. */
  public void answered() {
    if (prefetcher != null) {
      prefetcher.answered();
    }
  }

  /** Starts the background read-ahead work (profile replay, fill) if there is any; idempotent. */
  public void startReadAhead() {
    if (prefetcher != null && readAheadStarted.compareAndSet(false, true)) {
      prefetcher.start();
    }
  }

  /** The mount's read-ahead driver, or null when read-ahead and fill are off. */
  public MountPrefetcher prefetcher() {
    return prefetcher;
  }

  @Override
  public Map<String, byte[]> xattrs(String path) {
    if (path.equals("/")) {
      return Map.of(
          XATTR_MANIFEST, artifact.manifest().digest().toString().getBytes(StandardCharsets.UTF_8),
          XATTR_REFERENCE, artifact.ref().toString().getBytes(StandardCharsets.UTF_8));
    }
    MountedFile f = tree.file(path);
    if (f == null) {
      return Map.of();
    }
    return Map.of(XATTR_DIGEST, f.file().layer().digest().toString().getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public long totalBytes() {
    return artifact.totalBytes();
  }

  /** Bytes of this model's files present in the cache. */
  public long cachedBytes() {
    long sum = 0;
    for (BlobHandle h : handles) {
      sum += h.cachedBytes();
    }
    return sum;
  }

  public long bytesRead() {
    return bytesRead.get();
  }

  /** Seconds from mount to the first byte served, NaN before any byte was read. */
  public double firstByteSeconds() {
    long t = firstByteNanos;
    return t < 0 ? Double.NaN : (t - mountedAtNanos) / 1e9;
  }

  /** Fraction of the model's bytes in the cache. */
  public double cachedFraction() {
    long total = totalBytes();
    return total == 0 ? 1.0 : Math.min(1.0, (double) cachedBytes() / total);
  }

  public Map<String, MountedFile> files() {
    return tree.files();
  }

  /**
   * From now on, checks every chunk fetched for these files against their chunk digests (an index
   * accepted for this model, by path) before serving it.
   */
  public void verifyWith(Map<String, ChunkDigests> byPath) {
    for (MountedFile f : tree.files().values()) {
      ChunkDigests d = byPath.get(f.file().path());
      if (d != null) {
        f.handle().verifyWith(d);
      }
    }
    indexed = true;
  }

  /**
   * {@code verify.unindexed: strict}: files without chunk digests are served only once their whole
   * blob has been fetched and verified (readers wait); false: as they arrive ({@code lazy}).
   */
  public void serveOnlyVerified(boolean strict) {
    this.strict = strict;
    for (BlobHandle h : handles) {
      h.serveOnlyVerified(strict);
    }
  }

  /**
   * How served bytes are verified: {@code chunks} (every chunk against a chunk digest index before it
   * is served), {@code strict} (no index: a file's bytes only once its whole blob matched its digest)
   * or {@code lazy} (no index: served as they arrive, checked against the layer digest when whole).
   */
  public String verification() {
    return indexed ? "chunks" : strict ? "strict" : "lazy";
  }

  @Override
  public void close() {
    MountPrefetcher p = prefetcher;
    if (p != null) {
      p.close();
    }
    for (BlobHandle h : handles) {
      try {
        h.close();
      } catch (Exception ignored) {
        // Releasing a handle only drops a reference count; nothing to report.
      }
    }
    handles.clear();
  }
}
