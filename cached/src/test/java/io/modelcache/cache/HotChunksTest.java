package io.modelcache.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.oci.Digest;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class HotChunksTest {
  static final int CS = 64 << 10;
  private final Blob blob = new Blob(BlobSpec.raw(Digest.of(new byte[] {1}), 10L * CS), CS, Path.of("unused"), false);

  private ChunkCache.ChunkRef ref(int i) {
    return new ChunkCache.ChunkRef(blob, i);
  }

  private static ByteBuffer filled(HotChunks hot, int value) {
    ByteBuffer b = hot.take();
    while (b.hasRemaining()) {
      b.put((byte) value);
    }
    return b.flip();
  }

  @Test
  void buffersAreDirectAlignedAndOneChunkLong() {
    HotChunks hot = new HotChunks(CS, 4096, 4L * CS, 2);
    ByteBuffer b = hot.take();
    assertTrue(b.isDirect());
    assertEquals(CS, b.remaining());
    assertEquals(0, b.alignmentOffset(0, 4096));
  }

  @Test
  void aChunkServedInFullLeavesMemoryAndItsBufferIsReused() {
    HotChunks hot = new HotChunks(CS, 4096, 4L * CS, 2);
    ByteBuffer b = filled(hot, 7);
    assertTrue(hot.put(ref(0), b, CS, false));
    HotChunks.Entry e = hot.acquire(ref(0));
    assertEquals(7, e.slice(100, 1).get());
    hot.release(ref(0), e, CS / 2);
    assertNotNull(hot.acquire(ref(0)), "half served: still in memory");
    hot.release(ref(0), e, 0);
    e = hot.acquire(ref(0));
    hot.release(ref(0), e, CS / 2);
    assertNull(hot.acquire(ref(0)));
    assertEquals(0, hot.bytes());
    assertSame(b, hot.take(), "the buffer went back to the pool");
  }

  @Test
  void buffersFreedTogetherAreKeptWhileTheyFitTheCapacity() {
    HotChunks hot = new HotChunks(CS, 4096, 4L * CS, 2);
    java.util.Set<ByteBuffer> first = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    for (int i = 0; i < 6; i++) { // a fetch of six chunks takes six buffers at once
      ByteBuffer b = filled(hot, i);
      first.add(b);
      assertTrue(hot.put(ref(i), b, CS, false));
    }
    assertEquals(4L * CS, hot.bytes(), "the two oldest left memory over capacity");
    for (int i = 2; i < 6; i++) { // the rest are served in full and leave memory together
      HotChunks.Entry e = hot.acquire(ref(i));
      hot.release(ref(i), e, CS);
    }
    assertEquals(0, hot.bytes());
    int reused = 0;
    for (int i = 0; i < 6; i++) {
      if (first.contains(hot.take())) {
        reused++;
      }
    }
    assertEquals(4, reused, "four idle buffers fit the capacity (more than the pool's minimum of 2); the rest are new");
  }

  @Test
  void idleBuffersAndChunksInMemoryTogetherStayWithinTheCapacity() {
    HotChunks hot = new HotChunks(CS, 4096, 4L * CS, 1);
    ByteBuffer[] idle = {hot.take(), hot.take(), hot.take(), hot.take()};
    assertTrue(hot.put(ref(0), filled(hot, 1), CS, false));
    assertTrue(hot.put(ref(1), filled(hot, 2), CS, false));
    for (ByteBuffer b : idle) {
      hot.give(b);
    }
    java.util.Set<ByteBuffer> kept = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    for (int i = 0; i < 4; i++) {
      ByteBuffer b = hot.take();
      for (ByteBuffer x : idle) {
        if (x == b) {
          kept.add(b);
        }
      }
    }
    assertEquals(2, kept.size(), "two chunks in memory leave room for two idle buffers");
  }

  @Test
  void aBufferInUseIsNotRecycledWhenItsChunkIsDropped() {
    HotChunks hot = new HotChunks(CS, 4096, 4L * CS, 2);
    ByteBuffer b = filled(hot, 1);
    hot.put(ref(3), b, CS, false);
    HotChunks.Entry e = hot.acquire(ref(3));
    hot.remove(ref(3));
    assertNotSame(b, hot.take(), "still referenced by a reader");
    assertEquals(1, e.slice(0, 1).get());
    hot.release(ref(3), e, 10);
    assertSame(b, hot.take());
  }

  @Test
  void overCapacityTheOldestChunksGoFirst() {
    HotChunks hot = new HotChunks(CS, 4096, 2L * CS, 4);
    for (int i = 0; i < 3; i++) {
      hot.put(ref(i), filled(hot, i), CS, false);
    }
    assertEquals(2, hot.size());
    assertNull(hot.acquire(ref(0)));
    assertNotNull(hot.acquire(ref(1)));
    assertNotNull(hot.acquire(ref(2)));
  }

  @Test
  void aChunkAwaitingTheHashStaysAfterBeingServedUntilHashed() {
    HotChunks hot = new HotChunks(CS, 4096, 4L * CS, 2);
    hot.put(ref(5), filled(hot, 5), CS, true);
    HotChunks.Entry e = hot.acquire(ref(5));
    hot.release(ref(5), e, CS);
    e = hot.acquire(ref(5));
    assertNotNull(e);
    hot.hashed(ref(5), e);
    hot.release(ref(5), e, 0);
    assertNull(hot.acquire(ref(5)));
  }

  @Test
  void zeroCapacityKeepsNothing() {
    HotChunks hot = new HotChunks(CS, 4096, 0, 2);
    assertFalse(hot.put(ref(0), filled(hot, 0), CS, false));
    assertEquals(0, hot.size());
  }

  @Test
  void removingABlobForgetsAllItsChunks() {
    HotChunks hot = new HotChunks(CS, 4096, 4L * CS, 4);
    hot.put(ref(0), filled(hot, 0), CS, false);
    hot.put(ref(1), filled(hot, 1), CS, true);
    hot.removeBlob(blob);
    assertEquals(0, hot.size());
    assertEquals(0, hot.bytes());
  }
}
