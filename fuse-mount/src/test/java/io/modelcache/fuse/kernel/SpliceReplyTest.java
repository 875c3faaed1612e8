package io.modelcache.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SpliceReply} without a kernel FUSE connection: the "device" is a second pipe, so what would
 * reach /dev/fuse is read back and compared byte for byte.
 */
class SpliceReplyTest {
  @TempDir Path dir;
  /** 300,000 random bytes in a file, open read-only as {@link #fd}. */
  private byte[] file;
  private int fd = -1;
  /** The "device": a pipe of 1 MiB whose read end shows what a reply wrote. */
  private final int[] dev = {-1, -1};

  @BeforeEach
  void setUp() throws IOException {
    file = new byte[300_000];
    new Random(3).nextBytes(file);
    Path f = Files.write(dir.resolve("blob"), file);
    fd = Sys.open(f.toString(), Sys.O_RDONLY | Sys.O_CLOEXEC);
    assertEquals(0, Sys.pipe2(dev, Sys.O_CLOEXEC | Sys.O_NONBLOCK));
    assertTrue(Sys.fcntl(dev[1], Sys.F_SETPIPE_SZ, 1 << 20) >= 1 << 20);
  }

  @AfterEach
  void tearDown() {
    Sys.close(fd);
    Sys.close(dev[0]);
    Sys.close(dev[1]);
  }

  @Test
  void theHeaderThenTheFileRangeReachTheDeviceInOneReply() throws IOException {
    try (Arena a = Arena.ofConfined()) {
      int len = 100_000;
      long unique = 0x0102030405060708L;
      MemorySegment header = a.allocate(16);
      Wire.header(header, 16 + len, 0, unique);
      SplicedFile.Range range = new SplicedFile.Range(fd, 4097, len);
      assertTrue(SpliceReply.forThread().fits(range), "100,000 bytes fit any pipe this process may make");
      long w = SpliceReply.forThread().send(dev[1], header, range);
      MemorySegment got = a.allocate(1 << 20);
      long r = Sys.read(dev[0], got, got.byteSize());
      assertEquals(16 + len, w);
      assertEquals(16 + len, r);
      MemorySegment want = a.allocate(16 + len);
      Wire.header(want, 16 + len, 0, unique);
      MemorySegment.copy(file, 4097, want, ValueLayout.JAVA_BYTE, 16, len);
      assertEquals(HexFormat.of().formatHex(want.toArray(ValueLayout.JAVA_BYTE)),
          HexFormat.of().formatHex(got.asSlice(0, r).toArray(ValueLayout.JAVA_BYTE)));
    }
  }

  @Test
  void smallRepliesAreCopiedAndA1MiBReplyIsSplicedOnlyWhereAPipeOf2MiBMayBeMade() throws IOException {
    SpliceReply s = SpliceReply.forThread();
    assertFalse(s.fits(new SplicedFile.Range(0, 0, SpliceReply.MIN_SPLICE - 1)), "below the splice minimum");
    assertTrue(s.fits(new SplicedFile.Range(0, 0, SpliceReply.MIN_SPLICE)));
    long pipeMax = Long.parseLong(Files.readString(Path.of("/proc/sys/fs/pipe-max-size")).trim());
    boolean big = pipeMax >= SpliceReply.PIPE_SIZE || hasCapSysResource();
    // 1 MiB from mid-page spans 257 pages, plus one buffer for the header: only a 2 MiB pipe holds it.
    assertEquals(big, s.fits(new SplicedFile.Range(0, 100, 1 << 20)),
        "pipe-max-size " + pipeMax + ", CAP_SYS_RESOURCE " + hasCapSysResource());
  }

  @Test
  void aReplyThePipeCannotHoldIsReadIntoTheReplyBufferAndWrittenAndAShortFileAnswersEio() throws IOException {
    try (Arena a = Arena.ofConfined()) {
      int len = 250_000;
      long unique = 77;
      MemorySegment reply = a.allocate(16 + len);
      Wire.header(reply, 16 + len, 0, unique);
      assertEquals(16 + len, SpliceReply.copied(dev[1], reply, new SplicedFile.Range(fd, 12_345, len)));
      MemorySegment got = a.allocate(1 << 20);
      long r = Sys.read(dev[0], got, got.byteSize());
      assertEquals(16 + len, r);
      byte[] want = new byte[len];
      System.arraycopy(file, 12_345, want, 0, len);
      assertEquals(HexFormat.of().formatHex(want), HexFormat.of().formatHex(got.asSlice(16, len).toArray(ValueLayout.JAVA_BYTE)));
      assertEquals(unique, got.get(ValueLayout.JAVA_LONG_UNALIGNED, 8));

      // The range runs past the end of the file (it shrank): EIO, header only, never short data.
      Wire.header(reply, 16 + len, 0, unique + 1);
      assertEquals(16, SpliceReply.copied(dev[1], reply, new SplicedFile.Range(fd, 100_000, len)));
      r = Sys.read(dev[0], got, got.byteSize());
      assertEquals(16, r);
      assertEquals(16, got.get(ValueLayout.JAVA_INT_UNALIGNED, 0), "len");
      assertEquals(-io.modelcache.fuse.Errno.EIO, got.get(ValueLayout.JAVA_INT_UNALIGNED, 4), "error");
      assertEquals(unique + 1, got.get(ValueLayout.JAVA_LONG_UNALIGNED, 8));
    }
  }

  private static boolean hasCapSysResource() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("CapEff:")) {
        return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & (1L << 24)) != 0;
      }
    }
    return false;
  }
}
