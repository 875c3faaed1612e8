package io.modelcache.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HomeLockTest {
  @TempDir Path home;

  @Test
  void aHeldHomeIsRefusedWithTheHoldersPidAndFreeAgainOnceReleased() throws Exception {
    long pid = ProcessHandle.current().pid();
    try (HomeLock first = HomeLock.acquire(home, Duration.ZERO)) {
      assertEquals(pid + "\n", Files.readString(home.resolve(HomeLock.FILE)));
      ModelCacheException e = assertThrows(ModelCacheException.class, () -> HomeLock.acquire(home, Duration.ofMillis(250)));
      assertEquals(ModelCacheException.Kind.USAGE, e.kind());
      assertEquals("another daemon is running on " + home + " (pid " + pid + "); stop it first, or give this one another --home",
          e.getMessage());
    }
    HomeLock.acquire(home, Duration.ZERO).close();
  }

  @Test
  void aStaleFileFromADaemonThatDiedDoesNotLockTheHome() throws Exception {
    Files.writeString(home.resolve(HomeLock.FILE), "999999\n");
    try (HomeLock l = HomeLock.acquire(home, Duration.ZERO)) {
      assertEquals(ProcessHandle.current().pid() + "\n", Files.readString(home.resolve(HomeLock.FILE)));
    }
  }
}
