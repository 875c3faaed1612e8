package io.modelcache.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.CallWrapper;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** INIT and the ABI: what is negotiated with the kernel, struct sizes, opcode names and node ids. */
class KernelFsInitTest extends KernelFsFixture {
  @Test
  void everyOpcodeOfTheAbiHasAMetricName() throws IllegalAccessException {
    for (java.lang.reflect.Field f : FuseAbi.class.getFields()) {
      String n = f.getName();
      if (f.getType() == int.class && java.lang.reflect.Modifier.isStatic(f.getModifiers()) && f.getInt(null) > 0
          && f.getInt(null) < 64 && n.equals(n.toUpperCase()) && !n.startsWith("FOPEN") && !n.startsWith("DT_")
          && !n.startsWith("NOTIFY") && !n.equals("KERNEL_VERSION") && !n.equals("OUR_MINOR")) {
        assertFalse(Opcodes.name(f.getInt(null)).startsWith("opcode-"), n + " has a name");
      }
    }
    assertEquals("ioctl", Opcodes.name(FuseAbi.IOCTL));
    assertEquals("opcode-99", Opcodes.name(99));
  }

  @Test
  void structSizesAreThoseOfFuseH() {
    assertEquals(40, FuseAbi.IN_HEADER.byteSize());
    assertEquals(16, FuseAbi.OUT_HEADER.byteSize());
    assertEquals(88, FuseAbi.ATTR.byteSize());
    assertEquals(128, FuseAbi.ENTRY_OUT.byteSize());
    assertEquals(104, FuseAbi.ATTR_OUT.byteSize());
    assertEquals(16, FuseAbi.OPEN_OUT.byteSize());
    assertEquals(40, FuseAbi.READ_IN.byteSize());
    assertEquals(24, FuseAbi.RELEASE_IN.byteSize());
    assertEquals(64, FuseAbi.INIT_IN.byteSize());
    assertEquals(64, FuseAbi.INIT_OUT.byteSize());
    assertEquals(80, FuseAbi.KSTATFS.byteSize());
    assertEquals(24, FuseAbi.DIRENT.byteSize());
    assertEquals(152, FuseAbi.DIRENTPLUS.byteSize());
    assertEquals(ByteOrder.LITTLE_ENDIAN, ByteOrder.nativeOrder(), "the codec writes the kernel's (native) order");
  }

  @Test
  void nodeIdsAreTheSortedPathsOfTheTreeAndStable() {
    assertEquals(List.of("/", "/a", "/a/f", "/z"), List.of(nodes.path(1), nodes.path(2), nodes.path(3), nodes.path(4)));
    assertEquals(3, nodes.id("/a/f"));
    assertEquals(0, nodes.id("/nope"));
    assertEquals(2, nodes.parent(3));
    assertEquals(1, nodes.parent(1));
    assertEquals(null, nodes.path(5));
    NodeTable again = NodeTable.of(List.of("/z", "/a/f", "/a"));
    for (long id = 1; id <= 4; id++) {
      assertEquals(nodes.path(id), again.path(id));
    }
  }

  @Test
  void initTakesOneMiBRequestsAsyncReadsParallelDiropsReaddirplusButNotPassthroughUnasked() {
    byte[] reply = call(FuseAbi.INIT, 0, initIn(45, 0x73fffffbL, 0x5fdL));
    assertEquals("50000000" + "00000000" + "0807060504030201" // header: 80 bytes, ok, unique
        + "07000000" + "28000000" + "00000200" + "01204440" // 7.40, readahead 128 KiB, flags
        + "1000" + "0c00" + "00000100" + "01000000" // max_background 16, congestion 12, max_write 64 KiB, time_gran 1
        + "0001" + "0000" + "00000000" + "00000000" + "0000" // max_pages 256, map_alignment, flags2, stack depth, timeout
        + "00".repeat(22), hex(reply));
    Negotiated n = fs.negotiated().getNow(null);
    assertTrue(n.passthroughOffered());
    assertFalse(n.passthrough());
    assertEquals(1024 * 1024, n.maxReadBytes());
    assertEquals("FUSE kernel protocol 7.45, answered 7.40: reads up to 1024 KiB, async_read, parallel_dirops, "
        + "readdirplus, passthrough offered, not asked, request timeout offered, not asked", n.describe());
  }

  @Test
  void initAsksForPassthroughOnlyWhenConfiguredAndOffered() {
    KernelFs pt = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withPassthrough(true), OpenHook.DAEMON_PATH);
    byte[] req = request(FuseAbi.INIT, 0, initIn(45, 0x73fffffbL, 0x5fdL));
    byte[] reply = new byte[256];
    pt.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("20000000" + "01000000", hex(Arrays.copyOfRange(reply, 16 + 32, 16 + 40))); // flags2, stack depth 1
    assertTrue(pt.negotiated().getNow(null).passthrough());
    KernelFs old = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withPassthrough(true), OpenHook.DAEMON_PATH);
    req = request(FuseAbi.INIT, 0, initIn(38, 0x73fffffbL & ~FuseAbi.INIT_EXT, 0));
    old.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("00000000" + "00000000", hex(Arrays.copyOfRange(reply, 16 + 32, 16 + 40)));
    assertEquals("FUSE kernel protocol 7.38, answered 7.38: reads up to 1024 KiB, async_read, parallel_dirops, "
        + "readdirplus, no passthrough (not offered), no request timeout (not offered)",
        old.negotiated().getNow(null).describe());
  }

  @Test
  void initAsksForTheRequestTimeoutWhereTheKernelOffersIt() {
    KernelFs t = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withRequestTimeoutSeconds(360), OpenHook.DAEMON_PATH);
    byte[] req = request(FuseAbi.INIT, 0, initIn(45, 0x73fffffbL, 0x5fdL)); // flags2 bit 10: FUSE_REQUEST_TIMEOUT
    byte[] reply = new byte[256];
    int n = t.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("50000000" + "00000000" + "0807060504030201"
        + "07000000" + "28000000" + "00000200" + "01204440"
        + "1000" + "0c00" + "00000100" + "01000000"
        + "0001" + "0000" + "00040000" + "00000000" + "6801" // flags2 0x400, stack depth 0, request_timeout 360
        + "00".repeat(22), hex(Arrays.copyOf(reply, n)));
    Negotiated got = t.negotiated().getNow(null);
    assertEquals(360, got.requestTimeoutSeconds());
    assertEquals("FUSE kernel protocol 7.45, answered 7.40: reads up to 1024 KiB, async_read, parallel_dirops, "
        + "readdirplus, passthrough offered, not asked, request timeout 360 s", got.describe());
    // A 6.12 kernel (7.41) does not offer it: neither the flag nor the field is set.
    KernelFs old = new KernelFs(tree, nodes, new CallWrapper(null, Duration.ofSeconds(1)),
        InitConfig.defaults().withRequestTimeoutSeconds(360), OpenHook.DAEMON_PATH);
    req = request(FuseAbi.INIT, 0, initIn(41, 0x73fffffbL, 0x1fdL));
    old.handle(MemorySegment.ofArray(req), req.length, MemorySegment.ofArray(reply));
    assertEquals("00000000" + "00000000" + "0000", hex(Arrays.copyOfRange(reply, 16 + 32, 16 + 42)));
    assertTrue(old.negotiated().getNow(null).describe().endsWith("no request timeout (not offered)"));
  }
}
