package io.modelcache.handover;

import io.modelcache.fuse.FuseOptions;
import io.modelcache.fuse.FuseTransport;
import io.modelcache.fuse.KernelTransport;
import io.modelcache.fuse.LiveConnection;
import io.modelcache.fuse.Mounted;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.ReadOnlyTree;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Child processes for {@link KernelHandoverIT}: FUSE servers and readers, one JVM each. */
final class KernelChild {
  static final long SIZE = 96L << 20;
  static final String FILE = "weights.bin";

  private KernelChild() {}

  /** The byte at {@code offset} of the served file: cheap to compute anywhere, never periodic at 4 KiB. */
  static byte at(long offset) {
    long x = (offset >>> 3) * 0x9E3779B97F4A7C15L;
    x ^= x >>> 29;
    return (byte) (x >>> (8 * (offset & 7)));
  }

  static String expectedSha256() throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    byte[] buf = new byte[1 << 20];
    for (long off = 0; off < SIZE; off += buf.length) {
      for (int i = 0; i < buf.length; i++) {
        buf[i] = at(off + i);
      }
      md.update(buf);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  /** One file whose reads take {@code delayMillis} each, so that a reader is mid-file when the server dies. */
  static final class SlowTree implements ReadOnlyTree {
    private final long delayMillis;

    SlowTree(long delayMillis) {
      this.delayMillis = delayMillis;
    }

    @Override
    public NodeAttributes stat(String path) {
      if (path.equals("/")) {
        return NodeAttributes.directory(0755, 1_700_000_000L);
      }
      return path.equals("/" + FILE) ? new NodeAttributes(false, SIZE, 0444, 0, 0, 1_700_000_000L, 0) : null;
    }

    @Override
    public List<String> list(String path) {
      return path.equals("/") ? List.of(FILE) : null;
    }

    @Override
    public FileReader open(String path) throws IOException {
      if (!path.equals("/" + FILE)) {
        throw new NoSuchFileException(path);
      }
      return (offset, dst) -> {
        try {
          Thread.sleep(delayMillis);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted");
        }
        int n = (int) Math.max(0, Math.min(dst.remaining(), SIZE - offset));
        for (int i = 0; i < n; i++) {
          dst.put(at(offset + i));
        }
        return n;
      };
    }

    @Override
    public Map<String, byte[]> xattrs(String path) {
      return Map.of();
    }

    @Override
    public long totalBytes() {
      return SIZE;
    }
  }

  /** Keeps both descriptors of the mount {@code m} at {@code mp} in the holder of {@code home}, as a daemon does. */
  static HolderKeeper keepInHolder(String home, String mp, Mounted m) throws IOException {
    LiveConnection c = m.connection().orElseThrow();
    HolderKeeper k = new HolderKeeper(Path.of(home), Duration.ofSeconds(60));
    k.keep(KeptConnection.sessionName(mp), c.sessionFd(), KeptConnection.meta(mp, c));
    k.keep(KeptConnection.cloneName(mp), c.serveFd(), KeptConnection.meta(mp, c));
    return k;
  }

  /** The connection of the mount at {@code mp}, taken back from the holder {@code k}. */
  static LiveConnection takeBack(HolderKeeper k, String mp) throws IOException {
    Map<String, FdKeeper.Kept> back = new java.util.HashMap<>();
    for (FdKeeper.Kept kept : k.takeBack()) {
      back.put(kept.name(), kept);
    }
    FdKeeper.Kept s = back.get(KeptConnection.sessionName(mp));
    FdKeeper.Kept c = back.get(KeptConnection.cloneName(mp));
    return KeptConnection.connection(s.meta(), s.fd(), c.fd());
  }

  /**
   * Says SERVING and serves until the test closes stdin; then runs {@code atEnd}, releases the
   * connection from the holder {@code k} and unmounts, and says UNMOUNTED.
   */
  static void serveUntilStdinCloses(HolderKeeper k, String mp, Mounted m, Runnable atEnd) throws IOException {
    System.out.println("SERVING");
    System.out.flush();
    while (System.in.read() >= 0) {
      // serve until the test closes stdin
    }
    atEnd.run();
    k.release(KeptConnection.sessionName(mp));
    k.release(KeptConnection.cloneName(mp));
    k.close();
    m.close();
    System.out.println("UNMOUNTED");
  }

  /** {@code Serve HOME MOUNTPOINT}: mounts, keeps the connection in a holder, serves until killed. */
  static final class Serve {
    public static void main(String[] args) throws Exception {
      String mp = args[1];
      Mounted m = FuseTransport.kernel().mount(Path.of(mp), new SlowTree(40), FuseOptions.defaults().withFsName("handover-test"));
      keepInHolder(args[0], mp, m);
      // SIGTERM is a handover too: stop serving, leave the mount, exit (the holder keeps it).
      Runtime.getRuntime().addShutdownHook(new Thread(m::leave));
      System.out.println("READY");
      System.out.flush();
      Thread.sleep(600_000);
    }
  }

  /**
   * {@code Adopt HOME MOUNTPOINT}: takes the connection back from the holder, serves it (fast reads),
   * and when stdin closes releases it and unmounts.
   */
  static final class Adopt {
    public static void main(String[] args) throws Exception {
      String mp = args[1];
      HolderKeeper k = new HolderKeeper(Path.of(args[0]), Duration.ofSeconds(60));
      LiveConnection conn = takeBack(k, mp);
      Mounted m = ((KernelTransport) FuseTransport.kernel()).adopt(Path.of(mp), conn, new SlowTree(0),
          FuseOptions.defaults().withFsName("handover-test"));
      serveUntilStdinCloses(k, mp, m, () -> {});
    }
  }

  /** {@code MmapHash FILE}: prints the sha256 of FILE read through a shared mapping. */
  static final class MmapHash {
    public static void main(String[] args) throws Exception {
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
        MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(map);
        System.out.println(HexFormat.of().formatHex(md.digest()));
      }
    }
  }

  /** {@code Preads FILE N}: N random unaligned preads, each compared with the expected bytes; prints how many matched. */
  static final class Preads {
    public static void main(String[] args) throws Exception {
      int n = Integer.parseInt(args[1]);
      Random r = new Random(13);
      int ok = 0;
      try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
        for (int i = 0; i < n; i++) {
          long off = (long) (r.nextDouble() * (SIZE - 300_000));
          ByteBuffer b = ByteBuffer.allocate(1 + r.nextInt(300_000));
          while (b.hasRemaining() && ch.read(b, off + b.position()) > 0) {
            // a pread may return less than asked
          }
          b.flip();
          boolean same = b.remaining() > 0;
          for (int j = 0; j < b.remaining() && same; j++) {
            same = b.get(j) == at(off + j);
          }
          ok += same ? 1 : 0;
        }
      }
      System.out.println("preads " + ok + "/" + n + " exact");
      System.exit(ok == n ? 0 : 1);
    }
  }
}
