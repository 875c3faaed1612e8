package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The callback wrapper without FUSE (constructing the fs loads libfuse but does not mount). */
class CallWrapperTest {
  record Event(String op, int result) {}

  final List<Event> events = new ArrayList<>();
  final ReadOnlyFuseFs fs = new ReadOnlyFuseFs(MemoryTree.sample(),
      FuseOptions.defaults().withSlowCallThreshold(Duration.ofMillis(1))
          .withListener((op, nanos, result) -> events.add(new Event(op, result))));

  @Test
  void mapsThrowablesAndNotifies() {
    assertEquals(7, fs.call("read", "/a", () -> 7));
    assertEquals(-2, fs.call("getattr", "/a", () -> {
      throw new NoSuchFileException("/a");
    }));
    assertEquals(-5, fs.call("read", "/a", () -> {
      throw new OutOfMemoryError("boom");
    }));
    assertEquals(List.of(new Event("read", 7), new Event("getattr", -2), new Event("read", -5)), events);
    assertEquals(2L, fs.counts().get("read"));
  }

  @Test
  void aThrowingListenerDoesNotChangeTheResult() {
    ReadOnlyFuseFs f = new ReadOnlyFuseFs(MemoryTree.sample(),
        FuseOptions.defaults().withListener((op, nanos, result) -> {
          throw new IllegalStateException("listener bug");
        }));
    assertEquals(3, f.call("read", "/a", () -> 3));
  }

  @Test
  void slowCallsAreStillReturned() {
    assertEquals(0, fs.call("open", "/slow", () -> {
      Thread.sleep(5);
      return 0;
    }));
  }

  @Test
  void readFullyStopsAtShortReadAndLoopsOtherwise() throws Exception {
    byte[] src = MemoryTree.randomBytes(9, 1000);
    List<Long> offsets = new ArrayList<>();
    ReadOnlyTree.FileReader chunky = (offset, dst) -> {
      offsets.add(offset);
      int n = (int) Math.min(Math.min(dst.remaining(), 300), src.length - offset);
      dst.put(src, (int) offset, n);
      return n;
    };
    ByteBuffer dst = ByteBuffer.allocate(600);
    assertEquals(300, ReadOnlyFuseFs.readFully(chunky, 100, dst));
    assertEquals(List.of(100L), offsets);
    ReadOnlyTree.FileReader whole = (offset, dst2) -> {
      int n = (int) Math.min(dst2.remaining(), src.length - offset);
      dst2.put(src, (int) offset, n);
      return n;
    };
    assertEquals(200, ReadOnlyFuseFs.readFully(whole, 800, ByteBuffer.allocate(600)));
    assertEquals(0, ReadOnlyFuseFs.readFully(whole, 1000, ByteBuffer.allocate(600)));
  }

  @Test
  void readerErrorsPropagateToTheWrapper() {
    ReadOnlyTree.FileReader failing = (offset, dst) -> {
      throw new IOException("backend down");
    };
    assertEquals(-5, fs.call("read", "/x", () -> ReadOnlyFuseFs.readFully(failing, 0, ByteBuffer.allocate(1))));
  }
}
