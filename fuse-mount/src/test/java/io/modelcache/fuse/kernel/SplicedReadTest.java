package io.modelcache.fuse.kernel;

import static io.modelcache.fuse.kernel.KernelFsFixture.error;
import static io.modelcache.fuse.kernel.KernelFsFixture.hex;
import static io.modelcache.fuse.kernel.KernelFsFixture.ok;
import static io.modelcache.fuse.kernel.KernelFsFixture.readIn;
import static io.modelcache.fuse.kernel.KernelFsFixture.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.BackingFile;
import io.modelcache.fuse.CallWrapper;
import io.modelcache.fuse.OneFileTree;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.fuse.kernel.KernelFsFixture.Le;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import io.modelcache.fuse.kernel.sys.Sys;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * READs of a daemon-served open whose reader has a backing file: answered with a range of that
 * file to splice, taken at OPEN and held until RELEASE, with the reader told what was served in
 * place. The reply is sent into a pipe standing in for /dev/fuse and compared byte for byte.
 */
class SplicedReadTest {
  private static final int SIZE = 300_000;
  private static final long NODE = 2; // "/" is 1, "/big" 2
  private static final long FH = (NODE << 32) | 1;

  @TempDir Path dir;
  private byte[] content;
  private Path file;
  private final AtomicInteger backingAsked = new AtomicInteger();
  private final AtomicInteger backingOpen = new AtomicInteger();
  private final List<String> servedInPlace = new CopyOnWriteArrayList<>();
  private final int[] device = new int[2];

  @BeforeEach
  void setUp() throws IOException {
    content = new byte[SIZE];
    new Random(11).nextBytes(content);
    file = Files.write(dir.resolve("backing"), content);
    assertEquals(0, Sys.pipe2(device, Sys.O_CLOEXEC | Sys.O_NONBLOCK));
    assertTrue(Sys.fcntl(device[1], Sys.F_SETPIPE_SZ, 1 << 20) >= 1 << 20, "a 1 MiB pipe as the device");
  }

  @AfterEach
  void tearDown() {
    Sys.close(device[0]);
    Sys.close(device[1]);
  }

  private ReadOnlyTree tree() {
    return new OneFileTree(SIZE, () -> new ReadOnlyTree.FileReader() {
      @Override
      public int read(long offset, ByteBuffer dst) {
        int n = (int) Math.max(0, Math.min(dst.remaining(), SIZE - offset));
        dst.put(content, (int) offset, n);
        return n;
      }

      @Override
      public Optional<BackingFile> backing() {
        backingAsked.incrementAndGet();
        backingOpen.incrementAndGet();
        return Optional.of(new BackingFile() {
          private boolean closed;

          @Override
          public Path path() {
            return file;
          }

          @Override
          public long length() {
            return SIZE;
          }

          @Override
          public synchronized void close() {
            if (!closed) {
              closed = true;
              backingOpen.decrementAndGet();
            }
          }
        });
      }

      @Override
      public void servedInPlace(long offset, int len) {
        servedInPlace.add(offset + "+" + len);
      }
    });
  }

  private KernelFs fs(InitConfig config, OpenHook hook) {
    ReadOnlyTree t = tree();
    return new KernelFs(t, NodeTable.of(t), new CallWrapper((op, nanos, r) -> { }, Duration.ofSeconds(10)), config, hook);
  }

  private static final byte[] REPLY = new byte[(1 << 20) + 4096];

  private static int handle(KernelFs fs, byte[] req, MemorySegment reply, ReplyData data) {
    return fs.handle(MemorySegment.ofArray(req), req.length, reply, data);
  }

  private static byte[] open(KernelFs fs) {
    byte[] req = request(FuseAbi.OPEN, NODE, new Le().u32(0).u32(0).get());
    int n = fs.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(REPLY));
    return Arrays.copyOf(REPLY, n);
  }

  private static void release(KernelFs fs) {
    byte[] req = request(FuseAbi.RELEASE, NODE, new Le().u64(FH).u32(0).u32(0).u64(0).get());
    fs.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(REPLY));
  }

  /** What reached the stand-in device: every byte it holds now. */
  private byte[] drainDevice(Arena a) {
    MemorySegment buf = a.allocate(2 << 20);
    long r = Sys.read(device[0], buf, buf.byteSize());
    return r <= 0 ? new byte[0] : buf.asSlice(0, r).toArray(ValueLayout.JAVA_BYTE);
  }

  /** Whether this process has {@code fd} open on the backing file. */
  private boolean holds(int fd) {
    try {
      return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).equals(file.toRealPath());
    } catch (IOException e) {
      return false;
    }
  }

  @Test
  void largeReadsAreSplicedFromTheBackingFileAndTheReaderIsToldSmallOnesAreCopied() throws IOException {
    KernelFs fs = fs(InitConfig.defaults(), OpenHook.DAEMON_PATH);
    assertEquals(hex(ok(16).u64(FH).u32(FuseAbi.FOPEN_KEEP_CACHE).u32(0).get()), hex(open(fs)));
    assertEquals(1, backingAsked.get(), "the backing file is taken once, at OPEN");
    assertEquals(1, backingOpen.get());
    ReplyData data = new ReplyData();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment reply = a.allocate(REPLY.length);
      int len = 128 * 1024;
      int n = handle(fs, request(FuseAbi.READ, NODE, readIn(FH, 4097, len)), reply, data);
      assertEquals(16 + len, n, "header plus the spliced range");
      SplicedFile.Range r = data.range();
      assertNotNull(r, "a 128 KiB read of a file with a backing file is spliced");
      assertEquals(4097, r.fdOffset());
      assertEquals(len, r.length());
      assertTrue(holds(r.fd()), "the range names this transport's descriptor of the backing file");
      assertEquals(List.of("4097+" + len), servedInPlace);
      long sent = SpliceReply.sent();
      assertEquals(n, data.send(device[1], reply, n));
      assertEquals(sent + 1, SpliceReply.sent());
      byte[] want = ok(len).bytes(Arrays.copyOfRange(content, 4097, 4097 + len)).get();
      assertEquals(hex(want), hex(drainDevice(a)));

      // The last bytes of the file: the range stops at its end.
      n = handle(fs, request(FuseAbi.READ, NODE, readIn(FH, SIZE - 40_000, len)), reply, data);
      assertEquals(16 + 40_000, n);
      assertEquals(new SplicedFile.Range(r.fd(), SIZE - 40_000, 40_000), data.range());
      assertEquals(n, data.send(device[1], reply, n));
      assertEquals(hex(ok(40_000).bytes(Arrays.copyOfRange(content, SIZE - 40_000, SIZE)).get()), hex(drainDevice(a)));

      // A small read is copied through read(): nothing to splice, the reader counts it itself.
      servedInPlace.clear();
      n = handle(fs, request(FuseAbi.READ, NODE, readIn(FH, 10, 4096)), reply, data);
      assertNull(data.range());
      assertEquals(hex(ok(4096).bytes(Arrays.copyOfRange(content, 10, 4106)).get()),
          hex(reply.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE)));
      assertEquals(List.of(), servedInPlace);

      // Past the end: an empty reply, nothing to splice.
      n = handle(fs, request(FuseAbi.READ, NODE, readIn(FH, SIZE, len)), reply, data);
      assertEquals(16, n);
      assertNull(data.range());

      // A failing request leaves nothing to splice.
      n = handle(fs, request(FuseAbi.READ, 1, readIn(FH + 1, 0, len)), reply, data); // no such handle
      assertEquals(hex(error(9)), hex(reply.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE)));
      assertNull(data.range());

      release(fs);
      assertEquals(0, backingOpen.get(), "RELEASE gives the backing file back");
      assertFalse(holds(r.fd()), "and closes the descriptor");
    }
  }

  @Test
  void aRangeInFlightKeepsItsDescriptorOpenPastTheRelease() {
    KernelFs fs = fs(InitConfig.defaults(), OpenHook.DAEMON_PATH);
    open(fs);
    ReplyData data = new ReplyData();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment reply = a.allocate(REPLY.length);
      int n = handle(fs, request(FuseAbi.READ, NODE, readIn(FH, 0, 64 * 1024)), reply, data);
      SplicedFile.Range r = data.range();
      assertNotNull(r);
      release(fs); // handled on another worker before this reply went out (an interrupted read)
      assertTrue(holds(r.fd()), "the descriptor outlives the RELEASE while its range is in flight");
      assertEquals(1, backingOpen.get());
      assertEquals(n, data.send(device[1], reply, n));
      assertEquals(hex(ok(64 * 1024).bytes(Arrays.copyOfRange(content, 0, 64 * 1024)).get()), hex(drainDevice(a)));
      assertFalse(holds(r.fd()), "closed once the reply is sent");
      assertEquals(0, backingOpen.get());
    }
  }

  @Test
  void nothingIsSplicedWithSpliceRepliesOffOrForAPassthroughOpen() {
    KernelFs off = fs(InitConfig.defaults().withSpliceReplies(false), OpenHook.DAEMON_PATH);
    open(off);
    ReplyData data = new ReplyData();
    MemorySegment reply = MemorySegment.ofArray(REPLY);
    int n = handle(off, request(FuseAbi.READ, NODE, readIn(FH, 0, 128 * 1024)), reply, data);
    assertNull(data.range());
    assertEquals(hex(ok(128 * 1024).bytes(Arrays.copyOfRange(content, 0, 128 * 1024)).get()),
        hex(Arrays.copyOf(REPLY, n)));
    assertEquals(0, backingAsked.get(), "splice off: the backing file is not even asked for");
    release(off);

    OpenHook passthrough = new OpenHook() {
      @Override
      public OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
        return new OpenReply(daemonPath.fh(), FuseAbi.FOPEN_PASSTHROUGH, 7);
      }
    };
    KernelFs pt = fs(InitConfig.defaults(), passthrough);
    open(pt);
    assertEquals(0, backingAsked.get(), "a passthrough open is read by the kernel: nothing to splice from");
    release(pt);
    assertEquals(0, backingOpen.get());
  }
}
