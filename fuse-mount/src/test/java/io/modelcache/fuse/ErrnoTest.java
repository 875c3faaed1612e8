package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.ReadOnlyFileSystemException;
import org.junit.jupiter.api.Test;

class ErrnoTest {
  @Test
  void mapsKnownExceptions() {
    assertEquals(-2, Errno.of(new NoSuchFileException("/a")));
    assertEquals(-2, Errno.of(new FileNotFoundException("/a")));
    assertEquals(-13, Errno.of(new AccessDeniedException("/a")));
    assertEquals(-30, Errno.of(new ReadOnlyFileSystemException()));
    assertEquals(-20, Errno.of(new NotDirectoryException("/a")));
  }

  @Test
  void everythingElseIsEio() {
    assertEquals(-5, Errno.of(new IOException("x")));
    assertEquals(-5, Errno.of(new InterruptedIOException("x")));
    assertEquals(-5, Errno.of(new UncheckedIOException(new NoSuchFileException("/a"))));
    assertEquals(-5, Errno.of(new IllegalStateException()));
    assertEquals(-5, Errno.of(new OutOfMemoryError()));
    assertEquals(-5, Errno.of(new StackOverflowError()));
    assertEquals(-5, Errno.of(new Throwable()));
  }
}
