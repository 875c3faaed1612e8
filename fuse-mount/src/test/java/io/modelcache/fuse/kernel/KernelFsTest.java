package io.modelcache.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.CallWrapper;
import io.modelcache.fuse.NodeAttributes;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The kernel protocol codec without a kernel: lookups, attributes, directories, xattrs, statfs, writes
 * refused and malformed requests, replies compared byte for byte with encodings written field by field.
 */
class KernelFsTest extends KernelFsFixture {
  @Test
  void lookupAnswersAnEntryOrACachedMiss() {
    byte[] hit = call(FuseAbi.LOOKUP, 2, new Le().cstr("f").get());
    assertEquals(hex(ok(128).u64(3).u64(0).u64(3600).u64(3600).u32(0).u32(0)
        .bytes(attr(3, 5, 1_700_000_002L, 7, 0100440, 1, 1000, 100).get()).get()), hex(hit));
    byte[] miss = call(FuseAbi.LOOKUP, 1, new Le().cstr("nope").get());
    assertEquals(hex(ok(128).u64(0).u64(0).u64(3600).u64(0).zeros(8 + 88).get()), hex(miss));
    assertEquals(hex(error(2)), hex(call(FuseAbi.LOOKUP, 99, new Le().cstr("x").get())));
  }

  @Test
  void getattrOfADirectoryAndOfAMissingNode() {
    assertEquals(hex(ok(104).u64(3600).u32(0).u32(0).bytes(attr(2, 0, 1_700_000_001L, 5, 040750, 2, 0, 0).get()).get()),
        hex(call(FuseAbi.GETATTR, 2, new Le().u32(0).u32(0).u64(0).get())));
    assertEquals(hex(error(2)), hex(call(FuseAbi.GETATTR, 42, new Le().zeros(16).get())));
  }

  @Test
  void openForWritingIsReadOnlyAndDirectoriesAreNotFiles() {
    assertEquals(hex(error(30)), hex(call(FuseAbi.OPEN, 3, new Le().u32(1).u32(0).get())));
    assertEquals(hex(error(30)), hex(call(FuseAbi.OPEN, 3, new Le().u32(2).u32(0).get())));
    assertEquals(hex(error(21)), hex(call(FuseAbi.OPEN, 2, new Le().u32(0).u32(0).get())));
    assertEquals(hex(error(20)), hex(call(FuseAbi.OPENDIR, 3, new Le().u32(0).u32(0).get())));
    assertEquals(hex(ok(16).u64(2).u32(0).u32(0).get()), hex(call(FuseAbi.OPENDIR, 2, new Le().u32(0).u32(0).get())));
  }

  @Test
  void readdirListsDotsThenNamesAndResumesAtAnOffset() {
    byte[] all = call(FuseAbi.READDIR, 1, readIn(1, 0, 4096));
    byte[] want = new Le().bytes(dirent(1, 1, ".", 4).get()).bytes(dirent(1, 2, "..", 4).get())
        .bytes(dirent(2, 3, "a", 4).get()).bytes(dirent(4, 4, "z", 8).get()).get();
    assertEquals(hex(ok(want.length).bytes(want).get()), hex(all));
    byte[] rest = call(FuseAbi.READDIR, 1, readIn(1, 3, 4096));
    assertEquals(hex(ok(32).bytes(dirent(4, 4, "z", 8).get()).get()), hex(rest));
    byte[] small = call(FuseAbi.READDIR, 1, readIn(1, 0, 60)); // room for two entries of 32 bytes? no: 32 + 32 > 60
    assertEquals(hex(ok(32).bytes(dirent(1, 1, ".", 4).get()).get()), hex(small));
  }

  @Test
  void readdirplusCarriesEntriesExceptForDots() {
    byte[] r = call(FuseAbi.READDIRPLUS, 2, readIn(2, 0, 4096));
    Le want = new Le().zeros(128).bytes(dirent(2, 1, ".", 4).get())
        .zeros(128).bytes(dirent(1, 2, "..", 4).get())
        .u64(3).u64(0).u64(3600).u64(3600).u32(0).u32(0).bytes(attr(3, 5, 1_700_000_002L, 7, 0100440, 1, 1000, 100).get())
        .bytes(dirent(3, 3, "f", 8).get());
    byte[] w = want.get();
    assertEquals(hex(ok(w.length).bytes(w).get()), hex(r));
  }

  @Test
  void statfsReportsBlocksOfTheTotalAndNothingFree() {
    assertEquals(hex(ok(80).u64(1).u64(0).u64(0).u64(0).u64(0).u32(4096).u32(255).u32(4096).u32(0).zeros(24).get()),
        hex(call(FuseAbi.STATFS, 1, new byte[0])));
  }

  @Test
  void xattrsProbeSizeThenValueAndSayErangeOrEnodata() {
    byte[] name = new Le().cstr("user.b").get();
    assertEquals(hex(ok(8).u32(2).u32(0).get()), hex(call(FuseAbi.GETXATTR, 3, new Le().u32(0).u32(0).bytes(name).get())));
    assertEquals(hex(error(34)), hex(call(FuseAbi.GETXATTR, 3, new Le().u32(1).u32(0).bytes(name).get())));
    assertEquals(hex(ok(2).bytes("vv".getBytes(StandardCharsets.UTF_8)).get()),
        hex(call(FuseAbi.GETXATTR, 3, new Le().u32(64).u32(0).bytes(name).get())));
    assertEquals(hex(error(61)), hex(call(FuseAbi.GETXATTR, 3, new Le().u32(64).u32(0).cstr("user.x").get())));
    assertEquals(hex(ok(8).u32(14).u32(0).get()), hex(call(FuseAbi.LISTXATTR, 3, new Le().u32(0).u32(0).get())));
    assertEquals(hex(ok(14).cstr("user.a").cstr("user.b").get()), hex(call(FuseAbi.LISTXATTR, 3, new Le().u32(100).u32(0).get())));
    assertEquals(hex(ok(8).u32(0).u32(0).get()), hex(call(FuseAbi.LISTXATTR, 1, new Le().u32(0).u32(0).get())));
  }

  @Test
  void writesAreReadOnlyUnknownOpcodesEnosysForgetsTakeNoReply() {
    for (int op : new int[] {FuseAbi.SETATTR, FuseAbi.MKDIR, FuseAbi.UNLINK, FuseAbi.RENAME, FuseAbi.WRITE,
        FuseAbi.SETXATTR, FuseAbi.CREATE, FuseAbi.RENAME2, FuseAbi.TMPFILE}) {
      assertEquals(hex(error(30)), hex(call(op, 1, new byte[64])), "opcode " + op);
    }
    assertEquals(hex(error(38)), hex(call(39, 1, new byte[32]))); // IOCTL
    assertEquals(hex(error(38)), hex(call(999, 1, new byte[0])));
    assertEquals("", hex(call(FuseAbi.FORGET, 3, new Le().u64(1).get())));
    assertEquals("", hex(call(FuseAbi.BATCH_FORGET, 0, new Le().u32(1).u32(0).u64(3).u64(1).get())));
    assertEquals("", hex(call(FuseAbi.INTERRUPT, 0, new Le().u64(5).get())));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.FLUSH, 3, new byte[24])));
    assertEquals(hex(ok(0).get()), hex(call(FuseAbi.ACCESS, 3, new Le().u32(4).u32(0).get())));
    assertEquals(hex(error(2)), hex(call(FuseAbi.ACCESS, 9, new Le().u32(4).u32(0).get())));
    assertTrue(ops.containsAll(List.of("forget=0", "batch_forget=0", "interrupt=0", "opcode-999=-38")), ops.toString());
  }

  @Test
  void aRequestWhoseLengthDisagreesGetsEioAndAThrowingTreeGetsEio() {
    byte[] req = request(FuseAbi.GETATTR, 1, new byte[16]);
    byte[] reply = new byte[64];
    int n = fs.handle(MemorySegment.ofArray(req), req.length - 4, MemorySegment.ofArray(reply));
    assertEquals(hex(error(5)), hex(Arrays.copyOf(reply, n)));
    KernelFs broken = new KernelFs(new Tree() {
      @Override
      public NodeAttributes stat(String path) {
        throw new IllegalStateException("bug");
      }
    }, nodes, new CallWrapper(null, Duration.ofSeconds(1)), InitConfig.defaults(), OpenHook.DAEMON_PATH);
    n = broken.handle(MemorySegment.ofArray(request(FuseAbi.GETATTR, 1, new byte[16])), 56, MemorySegment.ofArray(reply));
    assertEquals(hex(error(5)), hex(Arrays.copyOf(reply, n)));
  }
}
