package io.modelcache.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import org.junit.jupiter.api.Test;

class FailureLineTest {
  @Test
  void aModelCacheExceptionAnywhereInTheChainSpeaksForItself() {
    FailureLine f = FailureLine.of(new RuntimeException("wrapper",
        new ModelCacheException(ModelCacheException.Kind.NOT_FOUND, "127.0.0.1:5000/m:v1: tag v1 not found")));
    assertEquals("modelcache: 127.0.0.1:5000/m:v1: tag v1 not found", f.line());
    assertEquals(3, f.exitCode());
    assertFalse(f.internal());
  }

  @Test
  void fileSystemFailuresNameThePathAndTheReasonWithTheIoExitCode() {
    FailureLine f = FailureLine.of(new FileSystemException("/tmp/qa/afile/.modelcache-partial", null, "Not a directory"));
    assertEquals("modelcache: /tmp/qa/afile/.modelcache-partial: Not a directory", f.line());
    assertEquals(10, f.exitCode());
    assertEquals("modelcache: /proc/qa: No such file or directory", FailureLine.of(new NoSuchFileException("/proc/qa")).line());
    assertEquals("modelcache: /x/y: Not a directory", FailureLine.of(new NotDirectoryException("/x/y")).line());
    assertEquals("modelcache: /a/.tmp -> /a/cfg: Is a directory",
        FailureLine.of(new UncheckedIOException(new FileSystemException("/a/.tmp", "/a/cfg", "Is a directory"))).line());
  }

  @Test
  void anythingElseIsAnInternalError() {
    FailureLine f = FailureLine.of(new IllegalStateException("bug"));
    assertEquals("modelcache: internal error: java.lang.IllegalStateException: bug", f.line());
    assertEquals(1, f.exitCode());
    assertTrue(f.internal());
  }
}
