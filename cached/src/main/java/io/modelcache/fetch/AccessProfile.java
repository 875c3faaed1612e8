package io.modelcache.fetch;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.Digest;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The order in which a model's chunks were first read, learned on one mount and replayed as
 * read-ahead on the next mount of the same manifest digest (on this node or, exported, on another).
 *
 * <p>Text, one entry a line, so it can be inspected and shipped anywhere:
 * <pre>
 * modelcache-profile 1
 * manifest sha256:...
 * chunk 4194304
 * &lt;chunk index&gt;\t&lt;file path&gt;
 * </pre>
 * Immutable.
 */
public record AccessProfile(Digest manifest, int chunkSize, List<Entry> entries) {
  static final String MAGIC = "modelcache-profile 1";

  /** Chunk {@code chunk} of {@code path} (relative path in the model). */
  public record Entry(String path, int chunk) {}

  public AccessProfile {
    entries = List.copyOf(entries);
    if (chunkSize <= 0) {
      throw new IllegalArgumentException("chunk size must be positive");
    }
  }

  /** Where the profile of {@code manifest} lives in {@code dir}. */
  public static Path pathFor(Path dir, Digest manifest) {
    return dir.resolve(manifest.hex() + ".profile");
  }

  public static AccessProfile read(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    if (lines.size() < 3 || !lines.get(0).equals(MAGIC) || !lines.get(1).startsWith("manifest ")
        || !lines.get(2).startsWith("chunk ")) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, file + ": not a modelcache access profile");
    }
    try {
      Digest d = Digest.parse(lines.get(1).substring("manifest ".length()).trim());
      int cs = Integer.parseInt(lines.get(2).substring("chunk ".length()).trim());
      List<Entry> es = new ArrayList<>(lines.size() - 3);
      for (int i = 3; i < lines.size(); i++) {
        String l = lines.get(i);
        if (l.isEmpty()) {
          continue;
        }
        int tab = l.indexOf('\t');
        es.add(new Entry(l.substring(tab + 1), Integer.parseInt(l.substring(0, tab))));
      }
      return new AccessProfile(d, cs, es);
    } catch (RuntimeException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          file + ": malformed access profile (" + e.getMessage() + ")");
    }
  }

  /** Writes atomically (a reader never sees half a profile). */
  public void write(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      w.write(MAGIC + "\nmanifest " + manifest + "\nchunk " + chunkSize + "\n");
      for (Entry e : entries) {
        w.write(e.chunk() + "\t" + e.path() + "\n");
      }
    }
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Copies the profile of {@code manifest} from {@code dir} to {@code out} (to use on another node). */
  public static void exportTo(Path dir, Digest manifest, Path out) throws IOException {
    Path src = pathFor(dir, manifest);
    if (!Files.exists(src)) {
      throw ModelCacheException.notFound("no access profile for " + manifest + " in " + dir);
    }
    read(src).write(out);
  }

  /** Checks {@code file} and installs it in {@code dir} under its manifest digest; returns that digest. */
  public static Digest importFrom(Path file, Path dir) throws IOException {
    AccessProfile p = read(file);
    p.write(pathFor(dir, p.manifest()));
    return p.manifest();
  }

  /** Byte ranges ({@code path, begin, end}) in profile order; adjacent chunks of a file merge. */
  public List<ReadPlan.Segment> ranges(long maxRequest) {
    List<ReadPlan.Segment> out = new ArrayList<>();
    ReadPlan.Segment cur = null;
    for (Entry e : entries) {
      long b = (long) e.chunk() * chunkSize;
      long end = b + chunkSize;
      if (cur != null && cur.path().equals(e.path()) && cur.end() == b && cur.length() + chunkSize <= maxRequest) {
        cur = new ReadPlan.Segment(cur.path(), cur.begin(), end, 0);
        continue;
      }
      if (cur != null) {
        out.add(cur);
      }
      cur = new ReadPlan.Segment(e.path(), b, end, 0);
    }
    if (cur != null) {
      out.add(cur);
    }
    return out;
  }
}
