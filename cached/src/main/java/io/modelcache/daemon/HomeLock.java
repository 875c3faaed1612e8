package io.modelcache.daemon;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * One daemon per home: an exclusive lock on {@code <home>/daemon.lock}, held from before the cache
 * is opened until the daemon has closed it. A second daemon on the same home would otherwise run
 * Chronicle Map's recovery on the live cache index (which needs exclusive access and may lose or
 * corrupt it) and take the first daemon's control socket. The kernel drops the lock when its holder
 * exits, killed or not, so a crash never leaves a home locked; a daemon still finishing its stop is
 * waited for a few seconds. The file holds the holder's pid, for the error line.
 */
final class HomeLock implements AutoCloseable {
  static final String FILE = "daemon.lock";
  private final FileChannel channel;
  private final FileLock lock;

  private HomeLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  /** Takes the lock, waiting up to {@code wait} for a daemon that holds it to exit. */
  static HomeLock acquire(Path home, Duration wait) throws IOException {
    Path file = home.resolve(FILE);
    FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    try {
      long deadline = System.nanoTime() + wait.toNanos();
      while (true) {
        FileLock l;
        try {
          l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
          l = null; // this JVM already holds it: a second daemon in one process is the same mistake
        }
        if (l != null) {
          byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
          ch.truncate(0);
          ch.write(ByteBuffer.wrap(pid), 0);
          return new HomeLock(ch, l);
        }
        if (System.nanoTime() >= deadline) {
          String holder = holderPid(file);
          throw new ModelCacheException(Kind.USAGE, "another daemon is running on " + home
              + (holder.isEmpty() ? "" : " (pid " + holder + ")") + "; stop it first, or give this one another --home");
        }
        Thread.sleep(100);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      ch.close();
      throw new ModelCacheException(Kind.IO, "interrupted while waiting for the lock on " + file);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  private static String holderPid(Path file) {
    try {
      String s = Files.readString(file, StandardCharsets.US_ASCII).strip();
      return s.matches("[0-9]{1,10}") ? s : "";
    } catch (IOException e) {
      return "";
    }
  }

  @Override
  public void close() {
    try {
      lock.release();
    } catch (IOException e) {
      // closing the channel below releases it too
    }
    try {
      channel.close();
    } catch (IOException e) {
      // nothing left to release
    }
  }
}
