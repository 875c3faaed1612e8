package io.modelcache.handover;

import io.modelcache.fuse.BackingFile;
import io.modelcache.fuse.FuseOptions;
import io.modelcache.fuse.FuseTransport;
import io.modelcache.fuse.KernelTransport;
import io.modelcache.fuse.LiveConnection;
import io.modelcache.fuse.Mounted;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.OpenLog;
import io.modelcache.fuse.PassthroughHook;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.fuse.kernel.InitConfig;
import io.modelcache.fuse.kernel.Negotiated;
import io.modelcache.fuse.kernel.OpenHook;
import io.modelcache.fuse.kernel.OpenReply;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Child processes for {@link KernelHandoverIT}'s case of a server killed between recording an open
 * and replying to it: one JVM each, the connection kept by a holder in between.
 */
final class ResendChild {
  static final String FILE = "weights.bin";

  private ResendChild() {}

  /** One file, {@value #FILE}, read from a file on disk and offered as its own backing (passthrough). */
  static final class DiskTree implements ReadOnlyTree {
    private final Path file;

    DiskTree(Path file) {
      this.file = file;
    }

    @Override
    public NodeAttributes stat(String path) {
      if (path.equals("/")) {
        return NodeAttributes.directory(0755, 1_700_000_000L);
      }
      try {
        return path.equals("/" + FILE) ? new NodeAttributes(false, Files.size(file), 0444, 0, 0, 1_700_000_000L, 0) : null;
      } catch (IOException e) {
        return null;
      }
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
      long length = Files.size(file);
      return new FileReader() {
        @Override
        public int read(long offset, ByteBuffer dst) throws IOException {
          try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return Math.max(0, ch.read(dst, offset));
          }
        }

        @Override
        public Optional<BackingFile> backing() {
          return Optional.of(new BackingFile() {
            @Override
            public Path path() {
              return file;
            }

            @Override
            public long length() {
              return length;
            }

            @Override
            public void close() {}
          });
        }

        @Override
        public boolean contentFinal() {
          return true;
        }
      };
    }

    @Override
    public Map<String, byte[]> xattrs(String path) {
      return Map.of();
    }

    @Override
    public long totalBytes() {
      return 0;
    }
  }

  /** Records each open as the daemon does, then halts the process before the reply is written. */
  static final class DiesAfterRecording implements OpenHook {
    private final PassthroughHook inner;

    DiesAfterRecording(PassthroughHook inner) {
      this.inner = inner;
    }

    @Override
    public OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
      inner.opened(path, reader, daemonPath, unique); // the record is written here
      System.out.println("RECORDED");
      System.out.flush();
      Runtime.getRuntime().halt(137); // killed between the record and the reply
      throw new AssertionError("halted");
    }

    @Override
    public void initialized(Negotiated negotiated) {
      inner.initialized(negotiated);
    }

    @Override
    public void released(OpenReply reply) {
      inner.released(reply);
    }
  }

  /**
   * {@code ServeAndDie HOME MOUNTPOINT FILE LOG}: mounts {@code FILE} with passthrough and the open
   * log {@code LOG} (as a daemon whose mounts outlive it), keeps the connection in a holder, and
   * dies at the first open, after recording it and before replying.
   */
  static final class ServeAndDie {
    public static void main(String[] args) throws Exception {
      String mp = args[1];
      PassthroughHook.Stats stats = new PassthroughHook.Stats();
      KernelTransport t = new KernelTransport(InitConfig.defaults().withPassthrough(true),
          (tree, fd) -> new DiesAfterRecording(new PassthroughHook(fd, true, stats, OpenLog.fresh(Path.of(args[3])))));
      Mounted m = t.mount(Path.of(mp), new DiskTree(Path.of(args[2])), FuseOptions.defaults().withFsName("resend-test"));
      KernelChild.keepInHolder(args[0], mp, m);
      System.out.println("READY");
      System.out.flush();
      Thread.sleep(600_000);
    }
  }

  /**
   * {@code Adopt HOME MOUNTPOINT FILE LOG}: takes the connection back from the holder and serves it
   * as the daemon does (passthrough, the open log resumed: pins, epoch, resent opens); when stdin
   * closes, prints the passthrough opens it answered, releases the connection and unmounts.
   */
  static final class Adopt {
    public static void main(String[] args) throws Exception {
      String mp = args[1];
      PassthroughHook.Stats stats = new PassthroughHook.Stats();
      KernelTransport.configureDefault(true, true, stats);
      KernelTransport.configureDefaultHandover(0, mountpoint -> Path.of(args[3]));
      HolderKeeper k = new HolderKeeper(Path.of(args[0]), Duration.ofSeconds(60));
      LiveConnection conn = KernelChild.takeBack(k, mp);
      Mounted m = ((KernelTransport) FuseTransport.kernel()).adopt(Path.of(mp), conn, new DiskTree(Path.of(args[2])),
          FuseOptions.defaults().withFsName("resend-test"));
      KernelChild.serveUntilStdinCloses(k, mp, m, () -> System.out.println("PASSTHROUGH_OPENS " + stats.passthroughOpens()));
    }
  }
}
