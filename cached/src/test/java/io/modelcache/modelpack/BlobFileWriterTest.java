package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.modelcache.oci.Digest;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pull's file writer: exact bytes and digest through O_DIRECT and through the page cache. */
class BlobFileWriterTest {
  @TempDir
  Path tmp;

  /** Three whole buffers and a tail that is not a block multiple, handed over in odd-sized reads. */
  private static final int SIZE = 3 * BlobFileWriter.BUFFER + 12_345;

  @Test
  void wholeBuffersGoThroughODirectAndTheTailThroughThePageCache() throws Exception {
    Path f = Files.createFile(tmp.resolve("blob"));
    DirectFile direct = DirectFile.open(f);
    if (direct == null) {
      System.err.println("NOTE: " + tmp + " refuses O_DIRECT: skipping the direct-write test");
    }
    assumeTrue(direct != null, "O_DIRECT unsupported in " + tmp);
    byte[] data = TestLayouts.pseudoRandom(7, SIZE);
    try (direct) {
      BlobFileWriter w = write(f, direct, data, 0);
      assertEquals(3L * BlobFileWriter.BUFFER, w.directBytes());
    }
    assertArrayEquals(data, Files.readAllBytes(f));
  }

  @Test
  void withoutODirectEverythingGoesThroughThePageCache() throws Exception {
    Path f = Files.createFile(tmp.resolve("blob"));
    byte[] data = TestLayouts.pseudoRandom(8, SIZE);
    BlobFileWriter w = write(f, null, data, 0);
    assertEquals(0, w.directBytes());
    assertArrayEquals(data, Files.readAllBytes(f));
  }

  /** A direct channel that refuses its first write: the whole copy goes through the page cache instead. */
  @Test
  void aRefusedDirectWriteFallsBackToThePageCache() throws Exception {
    Path f = Files.createFile(tmp.resolve("blob"));
    FileChannel refusing = FileChannel.open(f, StandardOpenOption.WRITE);
    refusing.close(); // every write now fails with ClosedChannelException, an IOException
    byte[] data = TestLayouts.pseudoRandom(10, SIZE);
    BlobFileWriter w = write(f, new DirectFile(refusing, 4096), data, 0);
    assertEquals(0, w.directBytes());
    assertArrayEquals(data, Files.readAllBytes(f));
  }

  /** A resumed download writes from a block boundary after the bytes already on disk. */
  @Test
  void resumedCopyWritesAfterTheBytesAlreadyThere() throws Exception {
    Path f = Files.createFile(tmp.resolve("blob"));
    byte[] data = TestLayouts.pseudoRandom(9, SIZE);
    int start = 64 << 10;
    Files.write(f, Arrays.copyOf(data, start));
    try (DirectFile direct = DirectFile.open(f)) {
      write(f, direct, Arrays.copyOfRange(data, start, SIZE), start);
    }
    assertArrayEquals(data, Files.readAllBytes(f));
  }

  @Test
  void buffersAreBlockAligned() throws Exception {
    Path f = Files.createFile(tmp.resolve("blob"));
    try (DirectFile direct = DirectFile.open(f)) {
      assumeTrue(direct != null, "O_DIRECT unsupported in " + tmp);
      var seg = java.lang.foreign.MemorySegment.ofBuffer(direct.buffer(BlobFileWriter.BUFFER));
      assertEquals(0, seg.address() % direct.align());
      assertEquals(BlobFileWriter.BUFFER, seg.byteSize());
      long down = direct.alignDown(123_456);
      assertEquals(0, down % direct.align());
      assertTrue(down <= 123_456 && 123_456 - down < direct.align(), "rounded down by less than a block");
    }
  }

  private static BlobFileWriter write(Path f, DirectFile direct, byte[] data, long start) throws IOException {
    MessageDigest md = Digest.sha256();
    AtomicLong progress = new AtomicLong();
    try (FileChannel out = FileChannel.open(f, StandardOpenOption.WRITE)) {
      BlobFileWriter w = new BlobFileWriter(out, direct, md, null);
      long n = w.copy(new Trickle(new ByteArrayInputStream(data)), start, progress::addAndGet);
      assertEquals(data.length, n);
      assertEquals(data.length, progress.get());
      out.force(true);
      assertEquals(Digest.of(data), Digest.of(md));
      return w;
    }
  }

  /** Hands over at most 100,003 bytes per read, as a socket would, never block-aligned. */
  private static final class Trickle extends FilterInputStream {
    Trickle(InputStream in) {
      super(in);
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      return super.read(b, off, Math.min(len, 100_003));
    }
  }
}
