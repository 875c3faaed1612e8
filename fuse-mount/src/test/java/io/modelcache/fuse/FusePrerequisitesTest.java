package io.modelcache.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each missing FUSE piece is one line naming it and what provides it. */
class FusePrerequisitesTest {
  @TempDir Path dir;

  @Test
  void aMissingDeviceIsNamedWithItsPackage() {
    Path dev = dir.resolve("fuse");
    assertEquals("FUSE device " + dev + " is missing (install fuse3; in a container, pass " + dev + ")",
        FusePrerequisites.deviceProblem(dev));
  }

  @Test
  void anEmptyFileWhereTheDeviceShouldBeIsNotUsable() throws Exception {
    Path dev = Files.createFile(dir.resolve("fuse"));
    assertEquals("FUSE device " + dev + " is not usable: not a character device (install fuse3; in a container, pass "
        + dev + ")", FusePrerequisites.deviceProblem(dev));
  }

  @Test
  void aLibraryThatCannotBeLoadedIsNamedWithItsPackage() throws Exception {
    Path empty = Files.createFile(dir.resolve("libfuse.so.2"));
    assertEquals("FUSE library " + empty + " cannot be loaded (install libfuse2)",
        FusePrerequisites.libraryProblem(empty.toString()));
    assertEquals("FUSE library libmodelcache-none.so.9 cannot be loaded (install libfuse2)",
        FusePrerequisites.libraryProblem("libmodelcache-none.so.9"));
  }

  @Test
  void requireThrowsTheFirstProblemAsItsMessage() throws Exception {
    Path dev = Files.createFile(dir.resolve("fuse"));
    List<FusePrerequisites.Problem> problems = FusePrerequisites.check(dev, false);
    assertEquals(1, problems.size());
    FuseUnavailableException e = assertThrows(FuseUnavailableException.class, () -> FusePrerequisites.require(dev, false));
    assertEquals(problems.get(0).message(), e.getMessage());
  }

  @Test
  void thisMachinesRealPiecesPassWhenPresent() {
    // Where /dev/fuse and libfuse2 are installed (CI installs fuse3 and libfuse2), nothing is reported.
    if (Files.exists(FusePrerequisites.DEVICE) && Files.isWritable(FusePrerequisites.DEVICE)) {
      assertNull(FusePrerequisites.deviceProblem(FusePrerequisites.DEVICE));
    }
    if (Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libfuse.so.2"))) {
      assertNull(FusePrerequisites.libraryProblem(FusePrerequisites.LIBFUSE2));
    }
  }
}
