package io.modelcache.fuse;

import java.nio.file.Path;

/**
 * Manual benchmark (not a test): mounts a tree with a 1 GiB file served from memory on args[0] with
 * read-ahead args[1] KiB, prints MOUNTED, and serves until killed. Time it from outside with dd.
 */
public final class ThroughputMain {
  public static void main(String[] args) throws Exception {
    byte[] pattern = MemoryTree.randomBytes(7, 1 << 20);
    long size = 1L << 30;
    MemoryTree tree = new MemoryTree().file("/big", size, (offset, dst) -> {
      int n = (int) Math.min(dst.remaining(), size - Math.min(size, offset));
      int done = 0;
      while (done < n) {
        int at = (int) ((offset + done) & ((1 << 20) - 1));
        int len = Math.min(n - done, (1 << 20) - at);
        dst.put(pattern, at, len);
        done += len;
      }
      return n;
    });
    FuseMount.mount(Path.of(args[0]), tree,
        FuseOptions.defaults().withReadAheadKb(Integer.parseInt(args[1])));
    System.out.println("MOUNTED read_ahead_kb=" + FuseMount.readAheadKb(Path.of(args[0])));
    Thread.sleep(Long.MAX_VALUE);
  }
}
