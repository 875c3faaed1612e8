package io.modelcache.fetch;

import io.modelcache.error.ModelCacheException;
import io.modelcache.modelpack.PathSafety;
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

  /** Largest profile file accepted (a 4 M-entry profile of long paths is well below it). */
  public static final long MAX_FILE_BYTES = 256L << 20;

  /**
   * Reads and validates {@code file}. Errors are one line naming the file: NOT_FOUND when it does not
   * exist, USAGE when it is not a profile or is malformed (with the line and what is wrong).
   */
  public static AccessProfile read(Path file) throws IOException {
    if (Files.isDirectory(file)) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, file + ": is a directory, not an access profile");
    }
    long size;
    try {
      size = Files.size(file);
    } catch (java.nio.file.NoSuchFileException e) {
      throw ModelCacheException.notFound(file + ": no such file");
    }
    if (size > MAX_FILE_BYTES) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, file + ": " + size
          + " bytes is too large for an access profile (at most " + MAX_FILE_BYTES + ")");
    }
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, file + ": not a modelcache access profile (not UTF-8 text)");
    } catch (java.nio.file.AccessDeniedException e) {
      throw new ModelCacheException(ModelCacheException.Kind.IO, file + ": permission denied");
    }
    return parse(file.toString(), text);
  }

  /**
   * Parses and validates the text of a profile; {@code name} (a file name) starts every error.
   * Entries must have a chunk index of 0 or more and a path {@link PathSafety} accepts.
   */
  public static AccessProfile parse(String name, String text) throws ModelCacheException {
    String[] lines = text.split("\r?\n", -1); // a profile edited on Windows still reads
    if (text.isEmpty()) {
      throw usage(name, "empty file, not a modelcache access profile");
    }
    if (!lines[0].equals(MAGIC)) {
      throw usage(name, "not a modelcache access profile (the first line is not '" + MAGIC + "')");
    }
    if (lines.length < 3 || !lines[1].startsWith("manifest ") || !lines[2].startsWith("chunk ")) {
      throw usage(name, "malformed access profile: the header must be '" + MAGIC
          + "', 'manifest sha256:<hex>' and 'chunk <bytes>' lines");
    }
    String d = lines[1].substring("manifest ".length()).trim();
    if (!Digest.isValid(d)) {
      throw usage(name, "malformed access profile: line 2: invalid manifest digest '" + d
          + "' (expected sha256:<64 hex>)");
    }
    String c = lines[2].substring("chunk ".length()).trim();
    int cs;
    try {
      cs = Integer.parseInt(c);
    } catch (NumberFormatException e) {
      cs = -1;
    }
    if (cs <= 0 || (cs & (cs - 1)) != 0) { // cache chunk sizes are powers of two
      throw usage(name, "malformed access profile: line 3: invalid chunk size '" + c + "' (expected a power-of-two byte count)");
    }
    List<Entry> es = new ArrayList<>(lines.length - 3);
    for (int i = 3; i < lines.length; i++) {
      String l = lines[i];
      if (l.isEmpty()) {
        continue;
      }
      int tab = l.indexOf('\t');
      int chunk = -1;
      try {
        chunk = tab > 0 ? Integer.parseInt(l.substring(0, tab)) : -1;
      } catch (NumberFormatException e) {
        // reported below
      }
      String path = tab > 0 ? l.substring(tab + 1) : "";
      if (chunk < 0 || path.isEmpty()) {
        throw usage(name, "malformed access profile: line " + (i + 1) + ": expected '<chunk index>\\t<file path>', got '"
            + abbreviate(l) + "'");
      }
      String unsafe = PathSafety.problem(path);
      if (unsafe != null) {
        throw usage(name, "malformed access profile: line " + (i + 1) + ": unsafe file path '" + abbreviate(path)
            + "' (" + unsafe + ")");
      }
      es.add(new Entry(path, chunk));
    }
    if (es.isEmpty()) {
      throw usage(name, "access profile has no entries");
    }
    return new AccessProfile(new Digest(d.substring("sha256:".length())), cs, es);
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }

  private static ModelCacheException usage(String name, String what) {
    return new ModelCacheException(ModelCacheException.Kind.USAGE, name + ": " + what);
  }

  /** The profile in its file format. */
  public String toText() {
    StringBuilder b = new StringBuilder(64 + entries.size() * 32);
    b.append(MAGIC).append("\nmanifest ").append(manifest).append("\nchunk ").append(chunkSize).append('\n');
    for (Entry e : entries) {
      b.append(e.chunk()).append('\t').append(e.path()).append('\n');
    }
    return b.toString();
  }

  /** Bytes the profile names (entries times chunk size; the last chunk of a file may be shorter). */
  public long coveredBytes() {
    return (long) entries.size() * chunkSize;
  }

  /** Writes atomically (a reader never sees half a profile). */
  public void write(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      w.write(toText());
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
