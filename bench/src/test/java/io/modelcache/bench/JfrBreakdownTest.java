package io.modelcache.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class JfrBreakdownTest {
  @Test
  void topmostMatchingFrameDecides() {
    // The copy a direct-buffer digest makes is hashing, not "other".
    assertEquals("hash (sha256)", JfrBreakdown.classify(List.of("jdk.internal.misc.Unsafe.copyMemory0",
        "java.nio.DirectByteBuffer.get", "java.security.MessageDigestSpi.engineUpdate", "io.modelcache.cache.Ingest.x")));
    assertEquals("write (cache or target file, fsync)", JfrBreakdown.classify(List.of(
        "sun.nio.ch.FileDispatcherImpl.pwrite0", "sun.nio.ch.FileChannelImpl.write", "io.netty.channel.X.run")));
    assertEquals("receive (socket, Netty, HTTP)", JfrBreakdown.classify(List.of("jdk.internal.misc.Unsafe.copyMemory0",
        "io.netty.buffer.PooledByteBuf.getBytes", "io.modelcache.registry.BlobStream.read")));
    assertEquals("locks and wake-ups", JfrBreakdown.classify(List.of("jdk.internal.misc.Unsafe.unpark",
        "java.util.concurrent.locks.LockSupport.unpark", "io.modelcache.fuse.KernelServer.serve")));
    assertEquals("FUSE (requests, replies)", JfrBreakdown.classify(List.of("java.lang.foreign.X.y",
        "io.modelcache.fuse.KernelServer.reply")));
    assertEquals("read back (cache file → reply)", JfrBreakdown.classify(List.of("sun.nio.ch.FileDispatcherImpl.pread0",
        "sun.nio.ch.FileChannelImpl.read", "io.modelcache.cache.ReadPath.read", "io.modelcache.fuse.KernelServer.serve")));
    assertEquals("other Java", JfrBreakdown.classify(List.of("java.util.HashMap.get")));
  }

  @Test
  void medianOfEvenAndOdd() {
    assertEquals(2.0, CpuProfile.median(List.of(3.0, 1.0, 2.0)));
    assertEquals(2.5, CpuProfile.median(List.of(4.0, 1.0, 2.0, 3.0)));
  }
}
