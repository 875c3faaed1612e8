package io.modelcache.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.kernel.sys.Sys;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SpliceReply} without a kernel FUSE connection: the "device" is a second pipe, so what would
 * reach /dev/fuse is read back and compared byte for byte. Where this process may not make a pipe
 * of 1 MiB and more (pipe-max-size 1 MiB and no CAP_SYS_RESOURCE, the usual case), the reply must
 * be the EIO fallback instead.
 */
class SpliceReplyTest {
  @TempDir Path dir;

  @Test
  void theHeaderThenTheFileRangeReachTheDeviceInOneReplyOrTheReadIsAnsweredEio() throws IOException {
    byte[] file = new byte[20_000];
    new Random(3).nextBytes(file);
    Path f = Files.write(dir.resolve("blob"), file);
    int fd = Sys.open(f.toString(), Sys.O_RDONLY | Sys.O_CLOEXEC);
    int[] dev = new int[2];
    assertEquals(0, Sys.pipe2(dev, Sys.O_CLOEXEC | Sys.O_NONBLOCK));
    try (Arena a = Arena.ofConfined()) {
      int len = 10_000;
      long unique = 0x0102030405060708L;
      MemorySegment header = a.allocate(16);
      Wire.header(header, 16 + len, 0, unique);
      long w = SpliceReply.forThread().send(dev[1], header, new SpliceSource.Range(fd, 4097, len));
      MemorySegment got = a.allocate(64 * 1024);
      long r = Sys.read(dev[0], got, got.byteSize());
      byte[] bytes = got.asSlice(0, Math.max(r, 0)).toArray(ValueLayout.JAVA_BYTE);
      long pipeMax = Long.parseLong(Files.readString(Path.of("/proc/sys/fs/pipe-max-size")).trim());
      if (w != 16) {
        assertEquals(16 + len, w);
        assertEquals(16 + len, r);
        MemorySegment want = a.allocate(16 + len);
        Wire.header(want, 16 + len, 0, unique);
        MemorySegment.copy(file, 4097, want, ValueLayout.JAVA_BYTE, 16, len);
        assertEquals(HexFormat.of().formatHex(want.toArray(ValueLayout.JAVA_BYTE)), HexFormat.of().formatHex(bytes));
      } else { // no pipe that big for this process
        assertTrue(pipeMax < SpliceReply.PIPE_SIZE, "pipe-max-size " + pipeMax);
        MemorySegment eio = a.allocate(16);
        Wire.header(eio, 16, -5, unique);
        assertEquals(HexFormat.of().formatHex(eio.toArray(ValueLayout.JAVA_BYTE)), HexFormat.of().formatHex(bytes));
      }
    } finally {
      Sys.close(fd);
      Sys.close(dev[0]);
      Sys.close(dev[1]);
    }
  }
}
