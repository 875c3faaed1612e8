package io.modelcache.fuse;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * What a FUSE mount needs from the node, checked up front so that a missing piece is one line naming
 * it and the package that provides it, instead of an {@code UnsatisfiedLinkError} in the middle of
 * the first mount. The daemon logs the problems once at start; every mount checks again (cheap: a
 * stat, an open and close of the device, a dlopen) so that a node fixed meanwhile mounts at once.
 *
 * <p>Threading: stateless; safe from any thread.
 */
public final class FusePrerequisites {
  /** The FUSE device every transport talks to. */
  public static final Path DEVICE = Path.of("/dev/fuse");
  /** The library the jnr-fuse transport binds (libfuse 2.9, Debian package libfuse2). */
  public static final String LIBFUSE2 = "libfuse.so.2";

  private static final int S_IFMT = 0170000;
  private static final int S_IFCHR = 0020000;

  private FusePrerequisites() {}

  /** One missing or unusable piece; {@link #message} is the whole one-line explanation. */
  public record Problem(String piece, String message) {}

  /** The problems of {@code device} and, when {@code needLibfuse2}, of libfuse2; empty when all is usable. */
  public static List<Problem> check(Path device, boolean needLibfuse2) {
    List<Problem> problems = new ArrayList<>();
    String dev = deviceProblem(device);
    if (dev != null) {
      problems.add(new Problem(device.toString(), dev));
    }
    if (needLibfuse2) {
      String lib = libraryProblem(LIBFUSE2);
      if (lib != null) {
        problems.add(new Problem(LIBFUSE2, lib));
      }
    }
    return List.copyOf(problems);
  }

  /** Throws the first problem of {@link #check} as a {@link FuseUnavailableException}. */
  public static void require(Path device, boolean needLibfuse2) throws FuseUnavailableException {
    List<Problem> problems = check(device, needLibfuse2);
    if (!problems.isEmpty()) {
      throw new FuseUnavailableException(problems.get(0).message());
    }
  }

  /** Why {@code device} cannot serve FUSE, or null when it can. */
  static String deviceProblem(Path device) {
    String fix = " (install fuse3; in a container, pass " + device + ")";
    int mode;
    try {
      mode = (Integer) Files.getAttribute(device, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return "FUSE device " + device + " is missing" + fix;
    } catch (IOException | RuntimeException e) {
      return "FUSE device " + device + " is not usable: " + e.getMessage() + fix;
    }
    if ((mode & S_IFMT) != S_IFCHR) {
      return "FUSE device " + device + " is not usable: not a character device" + fix;
    }
    // Opening the device creates a connection that is dropped again at close; nothing is mounted.
    try (FileChannel ch = FileChannel.open(device, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      return null;
    } catch (IOException | RuntimeException e) {
      String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().replace(device + ": ", "");
      return "FUSE device " + device + " is not usable: " + why + fix;
    }
  }

  /** Why the shared library {@code name} cannot be loaded, or null when it can. */
  static String libraryProblem(String name) {
    try (Arena arena = Arena.ofConfined()) {
      SymbolLookup.libraryLookup(name, arena);
      return null;
    } catch (IllegalArgumentException | IllegalCallerException e) {
      return "FUSE library " + name + " cannot be loaded (install libfuse2)";
    }
  }
}
