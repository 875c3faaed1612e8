package io.modelcache.modelpack;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Downloads every file of an artifact into a directory ({@code modelcache pull}). Each layer blob is
 * fetched once (files sharing content share the download) into
 * {@code DIR/.modelcache-partial/<blob hex>}, hashed as it streams and, after a restart, continued
 * with a ranged read from where the partial file ends. Only a verified blob is turned into files:
 * raw by rename (or copy when several files share it), tar by copying the entry's range (a plain tar
 * layer holding one file, the usual case, skips the blob file: its content is streamed straight into
 * the file while the whole blob is hashed, {@link TarEntryDownload}), compressed
 * by decompressing; each file is written to a temporary name, given its mode and mtime, and renamed
 * into place. A digest mismatch deletes the partial download and leaves no file at the final path.
 * Layers are transferred on a pool of {@code parallelism} threads; {@code progress} is called from
 * those threads.
 */
public final class ModelPuller {
  private static final Logger LOG = LoggerFactory.getLogger(ModelPuller.class);
  /** Header blocks above this (huge PAX records) take the blob-and-copy path instead of the stream. */
  static final long STREAM_HEADER_MAX = TarLocator.MAX_EXTENDED_HEADER + 64L * 1024;
  private static final AtomicBoolean BUFFERED_WARNED = new AtomicBoolean();
  /** Where partial downloads live, under the target directory. */
  public static final String PARTIAL_DIR = ".modelcache-partial";

  private ModelPuller() {}

  public static void pull(ArtifactSource src, ModelArtifact art, Path dir, int parallelism, Consumer<Progress> progress)
      throws IOException {
    pull(src, art, dir, parallelism, progress, PageCacheMode.AUTO);
  }

  /** As above, with the choice of write path ({@code --page-cache}). */
  public static void pull(ArtifactSource src, ModelArtifact art, Path dir, int parallelism, Consumer<Progress> progress,
      PageCacheMode pageCache) throws IOException {
    Consumer<Progress> report = progress == null ? p -> { } : progress;
    Map<Digest, List<ModelFile>> byBlob = new LinkedHashMap<>();
    for (ModelFile f : art.files()) {
      PathSafety.check(art.ref() + ": layer " + f.layer().digest().shortHex(), f.path());
      byBlob.computeIfAbsent(f.layer().digest(), k -> new ArrayList<>()).add(f);
    }
    Path root = dir.toAbsolutePath().normalize();
    Path partial = root.resolve(PARTIAL_DIR);
    Files.createDirectories(partial);
    long total = 0;
    for (List<ModelFile> fs : byBlob.values()) {
      total += fs.get(0).layer().size();
    }
    AtomicLong done = new AtomicLong();
    long totalBytes = total;
    ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, parallelism), r -> {
      Thread t = new Thread(r, "modelcache-pull");
      t.setDaemon(true);
      return t;
    });
    // Starts each file's write-back while its download goes on (BlobFileWriter).
    ExecutorService flusher = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "modelcache-pull-flush");
      t.setDaemon(true);
      return t;
    });
    // By default big models bypass the page cache (DirectFile.worthIt); models that fit stay in it.
    boolean direct = pageCache.direct(total);
    Set<Path> placed = java.util.concurrent.ConcurrentHashMap.newKeySet();
    try {
      List<Callable<Void>> tasks = new ArrayList<>();
      for (List<ModelFile> fs : byBlob.values()) {
        tasks.add(() -> {
          ModelFile first = fs.get(0);
          if (fs.size() == 1 && first.format() == LayerFormat.TAR && first.contentOffset() <= STREAM_HEADER_MAX) {
            // One file in a plain tar layer: its content goes straight into the file, no blob on disk.
            Path target = target(art, first, root, partial);
            Path file = TarEntryDownload.download(src, art, first, partial, done, totalBytes, report, flusher, direct);
            applyMetadata(file, first);
            move(file, target);
            placed.add(target.getParent());
            report.accept(new Progress(first.path(), first.layer().size(), first.layer().size(), done.get(), totalBytes,
                true));
            return null;
          }
          Path blob = download(src, art, first, partial, done, totalBytes, report, flusher, direct);
          place(art, fs, blob, root, partial, done, totalBytes, report);
          for (ModelFile f : fs) {
            placed.add(root.resolve(f.path()).normalize().getParent());
          }
          Files.deleteIfExists(blob);
          return null;
        });
      }
      ModelPusher.runAll(pool, tasks);
    } finally {
      pool.shutdownNow();
      flusher.shutdown(); // a write-back already queued still runs: a download waits for it (BlobFileWriter)
    }
    try (var s = Files.list(partial)) {
      if (s.findAny().isEmpty()) {
        Files.delete(partial);
      }
    }
    syncDirectories(root, placed);
  }

  /**
   * Makes the renames durable: each file was fsynced before its rename, but the names live in their
   * directories. Syncs the directories files were placed in and each one above them up to
   * {@code root}, and {@code root}'s own parent (nothing else of a tree that was already there).
   * After this, a pull that returned survives a power cut.
   */
  private static void syncDirectories(Path root, Set<Path> placed) throws IOException {
    Set<Path> dirs = new java.util.TreeSet<>();
    for (Path d : placed) {
      for (Path p = d; p != null && p.startsWith(root); p = p.getParent()) {
        dirs.add(p);
      }
    }
    dirs.add(root);
    for (Path d : dirs) {
      fsyncDirectory(d, false);
    }
    if (root.getParent() != null) {
      // root's own name, best effort: the parent may be another file system (a volume's mount point)
      // that refuses an fsync of a directory.
      fsyncDirectory(root.getParent(), true);
    }
  }

  /** fsync of a directory: one we may not open is skipped; a failed sync fails the pull unless {@code bestEffort}. */
  private static void fsyncDirectory(Path d, boolean bestEffort) throws IOException {
    FileChannel ch;
    try {
      ch = FileChannel.open(d, StandardOpenOption.READ);
    } catch (IOException e) {
      return; // written into but not readable: there is no descriptor to sync it through
    }
    try (ch) {
      ch.force(true);
    } catch (IOException e) {
      if (!bestEffort) {
        throw e;
      }
      LOG.debug("fsync of {} failed: {}", d, e.toString());
    }
  }

  /** Fetches (or finishes fetching) one blob and verifies it; returns the partial file holding it. */
  static Path download(ArtifactSource src, ModelArtifact art, ModelFile first, Path partialDir, AtomicLong done,
      long total, Consumer<Progress> report, Executor flusher, boolean directWrites) throws IOException {
    Descriptor layer = first.layer();
    Digest d = layer.digest();
    Path part = partialDir.resolve(d.hex());
    MessageDigest md = Digest.sha256();
    long have = Files.isRegularFile(part) ? Files.size(part) : 0;
    if (have > layer.size()) {
      Files.delete(part);
      have = 0;
    }
    long pos;
    try (FileChannel out = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        DirectFile direct = directWrites ? DirectFile.open(part) : null) {
      if (direct != null && have > 0 && have < layer.size()) {
        have = direct.alignDown(have); // direct writes start on a block boundary
      }
      if (have > 0) {
        hashPrefix(part, have, md);
        report.accept(new Progress(first.path(), have, layer.size(), done.addAndGet(have), total, false));
      }
      pos = have;
      if (have < layer.size()) {
        out.truncate(have);
        try (InputStream in = src.openBlob(d, have, layer.size() - have)) {
          long[] at = {have};
          BlobFileWriter writer = new BlobFileWriter(out, direct, md, flusher);
          pos += writer.copy(in, have, n -> {
            at[0] += n;
            report.accept(new Progress(first.path(), at[0], layer.size(), done.addAndGet(n), total, false));
          });
          if (directWrites && (direct == null || writer.directRefused())) {
            warnBuffered(partialDir);
          }
        }
      }
      out.force(true);
    }
    Digest got = Digest.of(md);
    if (pos != layer.size() || !got.equals(d)) {
      Files.deleteIfExists(part);
      throw ModelCacheException.digestMismatch(art.ref() + ": layer " + d + " failed verification (got " + got + ")");
    }
    return part;
  }

  /** Says once per process that O_DIRECT was wanted and the file system did not take it. */
  static void warnBuffered(Path dir) {
    if (BUFFERED_WARNED.compareAndSet(false, true)) {
      LOG.warn("{} does not take O_DIRECT writes: the pull writes through the page cache instead", dir.getParent());
    }
  }

  /** Feeds the first {@code bytes} of a partial download to {@code md} (a resumed download's hash). */
  static void hashPrefix(Path part, long bytes, MessageDigest md) throws IOException {
    byte[] buf = new byte[1 << 20];
    try (InputStream in = Files.newInputStream(part)) {
      long left = bytes;
      while (left > 0) {
        int r = in.read(buf, 0, (int) Math.min(buf.length, left));
        if (r < 0) {
          throw new IOException(part + ": shrank while resuming");
        }
        md.update(buf, 0, r);
        left -= r;
      }
    }
  }

  /** Where {@code f} goes under {@code root} (its directory created); refuses a path that leaves it. */
  private static Path target(ModelArtifact art, ModelFile f, Path root, Path partialDir) throws IOException {
    Path target = root.resolve(f.path()).normalize();
    if (!target.startsWith(root) || target.equals(root) || target.startsWith(partialDir)) {
      throw ModelCacheException.unsafePath(art.ref() + ": layer " + f.layer().digest().shortHex()
          + ": unsafe file path '" + f.path() + "' (outside the target directory)");
    }
    Files.createDirectories(target.getParent());
    return target;
  }

  /** Turns a verified blob into its file(s). */
  static void place(ModelArtifact art, List<ModelFile> files, Path blob, Path root, Path partialDir, AtomicLong done,
      long total, Consumer<Progress> report) throws IOException {
    List<ModelFile> sorted = new ArrayList<>(files);
    sorted.sort(Comparator.comparingLong(ModelFile::contentOffset));
    InputStream stream = null;
    long streamPos = 0;
    try {
      for (int i = 0; i < sorted.size(); i++) {
        ModelFile f = sorted.get(i);
        Path target = target(art, f, root, partialDir);
        Path tmp = partialDir.resolve(f.layer().digest().hex() + "." + i + ".tmp");
        boolean lastRaw = f.format() == LayerFormat.RAW && i == sorted.size() - 1;
        if (lastRaw) {
          tmp = blob;
        } else if (f.format() == LayerFormat.RAW || f.format() == LayerFormat.TAR) {
          copyRange(blob, f.contentOffset(), f.size(), tmp);
        } else {
          if (stream == null || streamPos > f.contentOffset()) {
            if (stream != null) {
              stream.close();
            }
            stream = ModelReader.decompressed(Files.newInputStream(blob), f.format());
            streamPos = 0;
          }
          stream.skipNBytes(f.contentOffset() - streamPos);
          streamPos = f.contentOffset();
          try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
              StandardOpenOption.TRUNCATE_EXISTING)) {
            copyN(stream, Channels.newOutputStream(ch), f.size());
            ch.force(true);
          }
          streamPos += f.size();
        }
        applyMetadata(tmp, f);
        move(tmp, target);
        report.accept(new Progress(f.path(), f.layer().size(), f.layer().size(), done.get(), total, true));
      }
    } catch (java.io.EOFException | java.util.zip.ZipException e) {
      throw ModelCacheException.invalid(art.ref() + ": layer " + sorted.get(0).layer().digest().shortHex()
          + ": cannot extract: " + e.getMessage());
    } finally {
      if (stream != null) {
        stream.close();
      }
    }
  }

  private static void copyRange(Path blob, long offset, long size, Path to) throws IOException {
    try (FileChannel in = FileChannel.open(blob, StandardOpenOption.READ);
        FileChannel out = FileChannel.open(to, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      if (offset + size > in.size()) {
        throw new java.io.EOFException("entry ends past the blob");
      }
      long n = 0;
      while (n < size) {
        long r = in.transferTo(offset + n, size - n, out);
        if (r <= 0) {
          throw new java.io.EOFException("short copy");
        }
        n += r;
      }
      out.force(true);
    }
  }

  private static void copyN(InputStream in, OutputStream out, long n) throws IOException {
    byte[] buf = new byte[1 << 20];
    long left = n;
    while (left > 0) {
      int r = in.read(buf, 0, (int) Math.min(buf.length, left));
      if (r < 0) {
        throw new java.io.EOFException("archive ends inside an entry");
      }
      out.write(buf, 0, r);
      left -= r;
    }
  }

  static void applyMetadata(Path p, ModelFile f) throws IOException {
    try {
      Set<PosixFilePermission> perms = EnumSet.noneOf(PosixFilePermission.class);
      PosixFilePermission[] all = PosixFilePermission.values();
      for (int b = 0; b < 9; b++) {
        if ((f.mode() & (1 << (8 - b))) != 0) {
          perms.add(all[b]);
        }
      }
      Files.setPosixFilePermissions(p, perms);
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: keep the default mode
    }
    Files.setLastModifiedTime(p, FileTime.from(f.mtime()));
  }

  private static void move(Path tmp, Path target) throws IOException {
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
