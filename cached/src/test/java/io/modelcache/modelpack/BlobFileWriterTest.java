package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.modelcache.oci.Digest;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
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
    assertTrue(w.directRefused(), "the caller is told, to say so once");
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
      BlobFileWriter w = write(f, direct, Arrays.copyOfRange(data, start, SIZE), start);
      if (direct != null) {
        assertEquals(2L * BlobFileWriter.BUFFER, w.directBytes(), "the whole buffers after the resume point went direct");
      }
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

  /**
   * The write-back started behind the writer fails after the last byte arrived: the copy must fail
   * with it (the caller's fsync on the same descriptor would not see the error again).
   */
  @Test
  void aWriteBackFailureAfterTheLastByteFailsTheCopy() throws Exception {
    Path f = Files.createFile(tmp.resolve("blob"));
    byte[] data = TestLayouts.pseudoRandom(11, (int) BlobFileWriter.FLUSH_EVERY + 12_345);
    CountDownLatch lastByte = new CountDownLatch(1);
    // The write-back runs only once the stream is exhausted, as one still running at the end would.
    Executor late = r -> Thread.ofPlatform().daemon().start(() -> {
      try {
        lastByte.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      r.run();
    });
    InputStream in = new FilterInputStream(new ByteArrayInputStream(data)) {
      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        int n = super.read(b, off, len);
        if (n < 0) {
          lastByte.countDown();
        }
        return n;
      }
    };
    try (FileChannel real = FileChannel.open(f, StandardOpenOption.WRITE);
        FileChannel out = new FailingForce(real)) {
      BlobFileWriter w = new BlobFileWriter(out, null, Digest.sha256(), late);
      IOException e = assertThrows(IOException.class, () -> w.copy(in, 0, n -> { }));
      assertEquals("write-back failed", e.getMessage());
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

  /** A file channel whose {@code force} fails (an fdatasync that met a write-back error). */
  private static final class FailingForce extends FileChannel {
    private final FileChannel d;

    FailingForce(FileChannel d) {
      this.d = d;
    }

    @Override
    public void force(boolean metaData) throws IOException {
      throw new IOException("write-back failed");
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
      return d.write(src, position);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      return d.read(dst);
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
      return d.read(dsts, offset, length);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      return d.write(src);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
      return d.write(srcs, offset, length);
    }

    @Override
    public long position() throws IOException {
      return d.position();
    }

    @Override
    public FileChannel position(long newPosition) throws IOException {
      d.position(newPosition);
      return this;
    }

    @Override
    public long size() throws IOException {
      return d.size();
    }

    @Override
    public FileChannel truncate(long size) throws IOException {
      d.truncate(size);
      return this;
    }

    @Override
    public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
      return d.transferTo(position, count, target);
    }

    @Override
    public long transferFrom(ReadableByteChannel src, long position, long count) throws IOException {
      return d.transferFrom(src, position, count);
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
      return d.read(dst, position);
    }

    @Override
    public MappedByteBuffer map(MapMode mode, long position, long size) throws IOException {
      return d.map(mode, position, size);
    }

    @Override
    public FileLock lock(long position, long size, boolean shared) throws IOException {
      return d.lock(position, size, shared);
    }

    @Override
    public FileLock tryLock(long position, long size, boolean shared) throws IOException {
      return d.tryLock(position, size, shared);
    }

    @Override
    protected void implCloseChannel() {
      // the real channel is closed by its own try-with-resources
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
