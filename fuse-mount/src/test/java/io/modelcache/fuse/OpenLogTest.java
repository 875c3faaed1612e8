package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.kernel.Negotiated;
import io.modelcache.fuse.kernel.OpenReply;
import io.modelcache.fuse.kernel.sys.FuseAbi;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The open handles of a kept connection, as the next server reads them. */
class OpenLogTest {
  @TempDir Path dir;

  @Test
  void parseKeepsWhatIsStillOpenAndSkipsATornLine() {
    OpenLog.State s = OpenLog.parse(List.of("modelcache-opens 1 epoch 3", "+ 300000001 p 7", "+ 300000002 d 0",
        "+ 400000003 p 9", "- 300000002", "+ 5000000"));
    assertEquals(3, s.epoch());
    assertEquals(List.of(new OpenLog.Entry(0x300000001L, true, 7), new OpenLog.Entry(0x400000003L, true, 9)), s.open());
  }

  @Test
  void aResumedLogHasTheNextEpochAndWhatThePreviousServerLeftOpen() throws Exception {
    Path f = dir.resolve("opens/m.log");
    OpenLog first = OpenLog.fresh(f);
    assertEquals(0, first.epoch());
    first.opened(new OpenLog.Entry(0x300000001L, true, 7));
    first.opened(new OpenLog.Entry(0x300000002L, true, 7));
    first.opened(new OpenLog.Entry(0x400000003L, false, 0));
    first.released(0x300000001L);
    // killed here: nothing closed, nothing flushed beyond the write(2)s
    OpenLog second = OpenLog.resume(f);
    assertEquals(1, second.epoch());
    assertEquals(List.of(new OpenLog.Entry(0x300000002L, true, 7), new OpenLog.Entry(0x400000003L, false, 0)),
        second.resumed());
    assertEquals(List.of("modelcache-opens 1 epoch 1", "+ 300000002 p 7", "+ 400000003 d 0"), Files.readAllLines(f),
        "rewritten compacted");
    second.released(0x400000003L);
    assertEquals(List.of(new OpenLog.Entry(0x300000002L, true, 7)), OpenLog.resume(f).resumed());
    OpenLog.fresh(f).close();
    assertEquals(List.of(), OpenLog.resume(f).resumed(), "a fresh connection forgets an earlier one's opens");
    OpenLog gone = OpenLog.resume(f);
    gone.delete();
    assertFalse(Files.exists(f));
    assertEquals(0, OpenLog.resume(dir.resolve("none.log")).resumed().size());
  }

  @Test
  void theHookResumesModesBackingIdsAndPinsAndClosesThemAtTheLastRelease() throws Exception {
    Path f = dir.resolve("m.log");
    OpenLog log = OpenLog.resume(writeLog(f, "modelcache-opens 1 epoch 0", "+ 300000001 p 7", "+ 300000002 p 7",
        "+ 400000003 d 0"));
    PassthroughHook.Stats stats = new PassthroughHook.Stats();
    PassthroughHook hook = new PassthroughHook(-1, true, stats, log);
    AtomicInteger pins = new AtomicInteger();
    List<String> pinned = new ArrayList<>();
    Map<Long, String> paths = Map.of(3L, "/a", 4L, "/b");
    hook.resume(log.resumed(), paths::get, path -> {
      pinned.add(path);
      pins.incrementAndGet();
      return Optional.of(backing(pins));
    });
    hook.initialized(new Negotiated(7, 45, 40, FuseAbi.PASSTHROUGH, FuseAbi.PASSTHROUGH, 256, 0));
    assertEquals(List.of("/a"), pinned, "one pin per file in passthrough");
    assertEquals(1, hook.passthroughFiles());
    assertEquals(2, hook.openHandles()[0]);
    assertEquals(1, hook.openHandles()[1]);
    // A new open of /a while the kernel holds it in passthrough shares the old backing id.
    OpenReply again = hook.opened("/a", reader(Optional.empty()), new OpenReply((3L << 32) | (1L << 24) | 1,
        FuseAbi.FOPEN_KEEP_CACHE, 0), 0x51);
    assertEquals(new OpenReply((3L << 32) | (1L << 24) | 1, FuseAbi.FOPEN_PASSTHROUGH, 7), again);
    // A new open of /b, held on the daemon path since before the restart, stays on the daemon path.
    OpenReply b = hook.opened("/b", reader(Optional.of(backing(pins))), new OpenReply((4L << 32) | (1L << 24) | 2,
        FuseAbi.FOPEN_KEEP_CACHE, 0), 0x52);
    assertEquals(0, b.openFlags() & FuseAbi.FOPEN_PASSTHROUGH);
    hook.released(new OpenReply(0x300000001L, 0, 0));
    hook.released(new OpenReply(again.fh(), 0, 0));
    assertEquals(1, pins.get(), "pinned while a passthrough handle is open");
    hook.released(new OpenReply(0x300000002L, 0, 0));
    assertEquals(0, pins.get(), "the last release unpins");
    assertEquals(0, hook.passthroughFiles());
    assertEquals(List.of(new OpenLog.Entry(0x400000003L, false, 0), new OpenLog.Entry(b.fh(), false, 0, 0x52)),
        OpenLog.parse(Files.readAllLines(f)).open(), "the log says what is still open");
    hook.ended();
    assertFalse(Files.exists(f), "the connection is gone: so is its log");
  }

  @Test
  void recordsCarryTheOpenRequestsIdAndOldRecordsWithoutOneStillParse() {
    OpenLog.Entry e = new OpenLog.Entry(0x300000001L, true, 7, 0x2a);
    assertEquals("+ 300000001 p 7 2a\n", OpenLog.openLine(e));
    assertEquals(List.of(e, new OpenLog.Entry(0x400000002L, false, 0)),
        OpenLog.parse(List.of("modelcache-opens 1 epoch 0", OpenLog.openLine(e).strip(), "+ 400000002 d 0")).open());
  }

  /**
   * The previous server recorded two opens and was killed before replying to them (the record
   * precedes the reply): the kernel sends both OPENs again after FUSE_NOTIFY_RESEND, and each gets
   * the recorded handle, mode and backing id, so their RELEASEs end the records and the pin. An
   * OPEN resent without a record, or a record answered once already, is a new open.
   */
  @Test
  void aResentOpenThatWasRecordedButNeverAnsweredGetsItsRecordedHandle() throws Exception {
    Path f = dir.resolve("r.log");
    OpenLog log = OpenLog.resume(writeLog(f, "modelcache-opens 1 epoch 0", "+ 300000001 p 7 40", "+ 400000002 d 0 41"));
    PassthroughHook.Stats stats = new PassthroughHook.Stats();
    PassthroughHook hook = new PassthroughHook(-1, true, stats, log);
    AtomicInteger pins = new AtomicInteger();
    Map<Long, String> paths = Map.of(3L, "/a", 4L, "/b");
    hook.resume(log.resumed(), paths::get, path -> {
      pins.incrementAndGet();
      return Optional.of(backing(pins));
    });
    hook.initialized(new Negotiated(7, 45, 40, FuseAbi.PASSTHROUGH, FuseAbi.PASSTHROUGH, 256, 0));
    assertEquals(1, pins.get());

    assertEquals(Optional.of(new OpenReply(0x300000001L, FuseAbi.FOPEN_PASSTHROUGH, 7)),
        hook.resent(0x40, "/a", reader(Optional.empty())), "the recorded passthrough open, same backing id");
    assertEquals(Optional.of(new OpenReply(0x400000002L, FuseAbi.FOPEN_KEEP_CACHE, 0)),
        hook.resent(0x41, "/b", reader(Optional.empty())), "the recorded daemon-path open");
    assertEquals(Optional.empty(), hook.resent(0x40, "/a", reader(Optional.empty())), "a record is used once");
    assertEquals(Optional.empty(), hook.resent(0x99, "/a", reader(Optional.empty())), "no record: a new open");
    assertEquals(2, hook.openHandles()[0] + hook.openHandles()[1], "nothing counted twice");

    hook.released(new OpenReply(0x300000001L, 0, 0));
    assertEquals(0, pins.get(), "the kernel's release of the resent open unpins");
    hook.released(new OpenReply(0x400000002L, 0, 0));
    assertEquals(List.of(), OpenLog.parse(Files.readAllLines(f)).open(), "no record outlives its open");
  }

  @Test
  void aRecordWhoseOpenWasAnsweredIsNotHandedOutAgainAfterItsRelease() throws Exception {
    Path f = dir.resolve("s.log");
    OpenLog log = OpenLog.resume(writeLog(f, "modelcache-opens 1 epoch 0", "+ 400000002 d 0 41"));
    PassthroughHook hook = new PassthroughHook(-1, true, new PassthroughHook.Stats(), log);
    hook.resume(log.resumed(), Map.of(4L, "/b")::get, path -> Optional.empty());
    hook.released(new OpenReply(0x400000002L, 0, 0));
    assertEquals(Optional.empty(), hook.resent(0x41, "/b", reader(Optional.empty())));
  }

  private static Path writeLog(Path f, String... lines) throws Exception {
    return Files.write(f, List.of(lines));
  }

  private static BackingFile backing(AtomicInteger pins) {
    return new BackingFile() {
      private boolean closed;

      @Override
      public Path path() {
        return Path.of("/nonexistent");
      }

      @Override
      public long length() {
        return 5;
      }

      @Override
      public synchronized void close() {
        if (!closed) {
          closed = true;
          pins.decrementAndGet();
        }
      }
    };
  }

  private static ReadOnlyTree.FileReader reader(Optional<BackingFile> b) {
    return new ReadOnlyTree.FileReader() {
      @Override
      public int read(long offset, java.nio.ByteBuffer dst) {
        return -1;
      }

      @Override
      public Optional<BackingFile> backing() {
        return b;
      }

      @Override
      public boolean contentFinal() {
        return true;
      }
    };
  }
}
