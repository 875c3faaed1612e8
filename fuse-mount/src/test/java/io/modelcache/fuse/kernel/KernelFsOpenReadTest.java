package io.modelcache.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.CallWrapper;
import io.modelcache.fuse.ReadOnlyTree;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** OPEN, READ and RELEASE: file handles, lending readers, open hooks (passthrough) and resent opens. */
class KernelFsOpenReadTest extends KernelFsFixture {
  @Test
  void fileHandlesCarryTheServersEpochAndAnEarlierServersReleaseReachesTheHook() {
    List<OpenReply> released = new ArrayList<>();
    KernelFs second = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(),
        new OpenHook() {
          @Override
          public void released(OpenReply reply) {
            released.add(reply);
          }
        });
    second.handleEpoch(2);
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    byte[] reply = new byte[64];
    int n = second.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    long fh = (3L << 32) | (2L << 24) | 1; // never the first server's (3 << 32 | 1)
    assertEquals(hex(ok(16).u64(fh).u32(FuseAbi.FOPEN_KEEP_CACHE).u32(0).get()), hex(Arrays.copyOf(reply, n)));
    long earlier = (3L << 32) | 1;
    req = request(FuseAbi.RELEASE, 3, new Le().u64(earlier).u32(0).u32(0).u64(0).get());
    second.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals(List.of(new OpenReply(earlier, 0, 0)), released);
  }

  @Test
  void openReadReleaseWithHandlesDerivedFromTheNode() {
    byte[] open = call(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    long fh = (3L << 32) | 1;
    assertEquals(hex(ok(16).u64(fh).u32(FuseAbi.FOPEN_KEEP_CACHE).u32(0).get()), hex(open));
    assertEquals(1, tree.open.get());
    assertEquals(hex(ok(3).bytes("llo".getBytes(StandardCharsets.UTF_8)).get()), hex(call(FuseAbi.READ, 3, readIn(fh, 2, 4096))));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.READ, 3, readIn(fh, 5, 4096))));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.RELEASE, 3, new Le().u64(fh).u32(0).u32(0).u64(0).get())));
    assertEquals(0, tree.open.get());
    assertTrue(ops.containsAll(List.of("open=0", "read=3", "read=0", "release=0")), ops.toString());
  }

  @Test
  void aReadOnALendingReaderIsAnsweredFromTheLoanWhichIsGivenBackOnce() throws Exception {
    List<String> lent = new ArrayList<>();
    java.util.concurrent.atomic.AtomicInteger closed = new java.util.concurrent.atomic.AtomicInteger();
    Tree lending = new Tree() {
      @Override
      public FileReader open(String path) throws IOException {
        FileReader plain = super.open(path);
        return new FileReader() {
          @Override
          public int read(long offset, ByteBuffer dst) throws IOException {
            return plain.read(offset, dst);
          }

          @Override
          public io.modelcache.fuse.Loan lend(long offset, int len) {
            lent.add(offset + "+" + len);
            if (offset >= 4) {
              return null; // does not hold these bytes: read() serves them
            }
            int n = (int) Math.min(len, 5 - offset);
            // two parts, as a read across two chunks has: "he" and "llo" for offset 0
            ByteBuffer a = ByteBuffer.allocateDirect(2).put(tree.f, (int) offset, Math.min(2, n)).flip();
            ByteBuffer b = ByteBuffer.allocateDirect(5).put(tree.f, (int) offset + a.limit(), n - a.limit()).flip();
            return new io.modelcache.fuse.Loan() {
              @Override
              public ByteBuffer[] parts() {
                return new ByteBuffer[] {a, b};
              }

              @Override
              public int length() {
                return n;
              }

              @Override
              public void close() {
                closed.incrementAndGet();
              }
            };
          }

          @Override
          public void close() {
            plain.close();
          }
        };
      }
    };
    KernelFs lfs = new KernelFs(lending, NodeTable.of(lending), new CallWrapper((op, nanos, r) -> { },
        Duration.ofSeconds(10)), InitConfig.defaults(), OpenHook.DAEMON_PATH);
    long fh = (3L << 32) | 1;
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    lfs.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(new byte[4096]));
    ReplyData data = new ReplyData();
    try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
      MemorySegment reply = arena.allocate(64 * 1024, 8);
      req = request(FuseAbi.READ, 3, readIn(fh, 0, 4096));
      int n = lfs.handle(MemorySegment.ofArray(req), req.length, reply, data);
      assertEquals(16 + 5, n); // header plus the loan, of which only the header is in the buffer
      assertEquals(hex(ok(5).get()), hex(reply.asSlice(0, 16).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
      assertEquals(0, closed.get());
      // sent: one writev of header and both parts, here into a pipe, then the loan goes back
      int[] fds = new int[2];
      assertEquals(0, io.modelcache.fuse.kernel.sys.Sys.pipe2(fds, 0));
      try {
        assertEquals(16 + 5, data.send(fds[1], reply, n));
        assertEquals(1, closed.get());
        MemorySegment got = arena.allocate(64);
        assertEquals(16 + 5, io.modelcache.fuse.kernel.sys.Sys.read(fds[0], got, 64));
        assertEquals(hex(ok(5).bytes(tree.f).get()), hex(got.asSlice(0, 21).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
      } finally {
        io.modelcache.fuse.kernel.sys.Sys.close(fds[0]);
        io.modelcache.fuse.kernel.sys.Sys.close(fds[1]);
      }
      // a loan not sent (the session is leaving) is given back by clear, once
      n = lfs.handle(MemorySegment.ofArray(req), req.length, reply, data);
      assertEquals(16 + 5, n);
      data.clear();
      data.clear();
      assertEquals(2, closed.get());
      // the reader declines (offset 4): the bytes come through read, nothing is lent
      req = request(FuseAbi.READ, 3, readIn(fh, 4, 4096));
      n = lfs.handle(MemorySegment.ofArray(req), req.length, reply, data);
      assertEquals(hex(ok(1).bytes("o".getBytes(StandardCharsets.UTF_8)).get()), hex(reply.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
      assertEquals(null, data.loan());
      // a caller without a slot for reply data (the three-argument handle) never asks for a loan
      lent.clear();
      req = request(FuseAbi.READ, 3, readIn(fh, 0, 4096));
      byte[] plainReply = new byte[4096];
      n = lfs.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(plainReply));
      assertEquals(hex(ok(5).bytes(tree.f).get()), hex(Arrays.copyOf(plainReply, n)));
      assertEquals(List.of(), lent);
    }
    assertEquals(2, closed.get());
  }

  @Test
  void aLoanWithHeapPartsIsCopiedBehindTheHeader() {
    MemorySegment reply = MemorySegment.ofArray(new byte[64]);
    ReplyData.copyInto(reply, new ByteBuffer[] {ByteBuffer.wrap(new byte[] {1, 2}), ByteBuffer.wrap(new byte[] {3})});
    assertEquals("010203", hex(reply.asSlice(16, 3).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
  }

  @Test
  void aReadOnAHandleOfAnEarlierServerOpensTheNodeItNames() {
    long fh = (3L << 32) | 77; // given out by a server before a takeover
    assertEquals(hex(ok(5).bytes(tree.f).get()), hex(call(FuseAbi.READ, 3, readIn(fh, 0, 1 << 20))));
    assertEquals(1, fs.openHandles());
    assertEquals(hex(error(9)), hex(call(FuseAbi.READ, 4, readIn(fh + 1, 0, 10)))); // not a handle of that node
    fs.closeAll();
    assertEquals(0, tree.open.get());
  }

  @Test
  void anOpenHookMayAnswerPassthroughAndHearsTheRelease() {
    List<OpenReply> released = new ArrayList<>();
    KernelFs pt = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(),
        new OpenHook() {
          @Override
          public OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
            return new OpenReply(daemonPath.fh(), FuseAbi.FOPEN_PASSTHROUGH, 7);
          }

          @Override
          public void released(OpenReply reply) {
            released.add(reply);
          }
        });
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    byte[] reply = new byte[64];
    int n = pt.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    long fh = (3L << 32) | 1;
    assertEquals(hex(ok(16).u64(fh).u32(FuseAbi.FOPEN_PASSTHROUGH).u32(7).get()), hex(Arrays.copyOf(reply, n)));
    req = request(FuseAbi.RELEASE, 3, new Le().u64(fh).u32(0).u32(0).u64(0).get());
    pt.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals(List.of(new OpenReply(fh, FuseAbi.FOPEN_PASSTHROUGH, 7)), released);
    assertEquals(0, tree.open.get());
  }

  /**
   * An OPEN resent after FUSE_NOTIFY_RESEND (its unique flagged) asks the hook for the reply an
   * earlier server recorded, with the original unique, and is answered under the flagged unique the
   * kernel waits for; a first OPEN passes its unique to the hook to be recorded.
   */
  @Test
  void aResentOpenGetsTheRecordedReplyAndAFirstOpenPassesItsUniqueToBeRecorded() {
    List<Long> asked = new ArrayList<>();
    List<Long> recorded = new ArrayList<>();
    long earlierFh = (3L << 32) | (1L << 24) | 9;
    KernelFs fs2 = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(),
        new OpenHook() {
          @Override
          public java.util.Optional<OpenReply> resent(long unique, String path, ReadOnlyTree.FileReader reader) {
            asked.add(unique);
            return java.util.Optional.of(new OpenReply(earlierFh, FuseAbi.FOPEN_PASSTHROUGH, 7));
          }

          @Override
          public OpenReply opened(String path, ReadOnlyTree.FileReader reader, OpenReply daemonPath, long unique) {
            recorded.add(unique);
            return daemonPath;
          }
        });
    fs2.handleEpoch(2);
    byte[] req = request(FuseAbi.OPEN, 3, new Le().u32(0).u32(0).get());
    long resent = UNIQUE | FuseAbi.UNIQUE_RESEND;
    byte[] flagged = java.nio.ByteBuffer.wrap(req.clone()).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(8, resent).array();
    byte[] reply = new byte[64];
    int n = fs2.handle(MemorySegment.ofArray(flagged), flagged.length, MemorySegment.ofArray(reply));
    assertEquals(hex(new Le().u32(32).u32(0).u64(resent).u64(earlierFh).u32(FuseAbi.FOPEN_PASSTHROUGH).u32(7).get()),
        hex(Arrays.copyOf(reply, n)), "the recorded reply, under the unique the kernel waits for");
    assertEquals(List.of(UNIQUE), asked, "asked with the original unique");
    assertEquals(List.of(), recorded);
    n = fs2.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals(List.of(UNIQUE), recorded, "a first open is recorded with its unique");
    assertEquals(List.of(UNIQUE), asked, "a first open is never looked up");
  }
}
