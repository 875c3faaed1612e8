package io.modelcache.fuse;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Map;

/** A test tree of "/" and one read-only file "/big" of {@code size} bytes, whose readers {@code open} makes. */
public final class OneFileTree implements ReadOnlyTree {
  /** Makes a reader of "/big". */
  @FunctionalInterface
  public interface Opener {
    FileReader open() throws IOException;
  }

  private final NodeAttributes root = NodeAttributes.directory(0755, 1_700_000_000L);
  private final NodeAttributes big;
  private final long size;
  private final Opener opener;

  public OneFileTree(long size, Opener opener) {
    this.size = size;
    this.big = new NodeAttributes(false, size, 0444, 0, 0, 1_700_000_000L, 0);
    this.opener = opener;
  }

  @Override
  public NodeAttributes stat(String path) {
    return path.equals("/") ? root : path.equals("/big") ? big : null;
  }

  @Override
  public List<String> list(String path) {
    return path.equals("/") ? List.of("big") : null;
  }

  @Override
  public FileReader open(String path) throws IOException {
    if (!path.equals("/big")) {
      throw new NoSuchFileException(path);
    }
    return opener.open();
  }

  @Override
  public Map<String, byte[]> xattrs(String path) {
    return Map.of();
  }

  @Override
  public long totalBytes() {
    return size;
  }
}
