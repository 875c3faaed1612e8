package io.modelcache.handover;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.os.Fds;
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The holder with real descriptors and real processes: a child JVM hands descriptors to a holder it
 * starts, is killed with SIGKILL, and this JVM takes them back and checks they are the same ones.
 */
@Timeout(120)
class HolderIT {
  @Test
  void descriptorsOutliveTheProcessThatPassedThemAndComeBackTheSame(@TempDir Path dir) throws Exception {
    Path home = Files.createDirectories(dir.resolve("home"));
    Path file = dir.resolve("weights.bin");
    byte[] content = "exact bytes through a descriptor that changed hands\n".getBytes(StandardCharsets.UTF_8);
    Files.write(file, content);

    Process child = HandoverChild.start(HandoverChild.Put.class, home.toString(), "PT60S", file.toString());
    String pipe = awaitReady(child);
    long childSession = sessionOf(child.pid());
    ProcessHandle holder = holderOf(home);
    assertEquals(holder.pid(), sessionOf(holder.pid()), "the holder leads its own session");
    assertTrue(childSession != sessionOf(holder.pid()));

    child.destroyForcibly(); // SIGKILL: no cleanup in the child
    assertTrue(child.waitFor(20, TimeUnit.SECONDS));
    assertTrue(holder.isAlive(), "the holder survives the kill of the process that started it");

    HolderKeeper next = new HolderKeeper(home, Duration.ofSeconds(60));
    Map<String, FdKeeper.Kept> back = next.takeBack().stream()
        .collect(Collectors.toMap(FdKeeper.Kept::name, k -> k));
    assertEquals(java.util.Set.of("file", "pipe-r", "pipe-w"), back.keySet());

    int f = back.get("file").fd();
    assertEquals(Map.of("path", file.toString()), back.get("file").meta());
    assertEquals(file.toString(), Fds.describe(f));
    assertEquals(((Number) Files.getAttribute(file, "unix:ino")).longValue(), Fds.inode(f));
    assertArrayEquals(content, Fds.read(f, 4096));

    int r = back.get("pipe-r").fd();
    int w = back.get("pipe-w").fd();
    assertEquals(pipe, Fds.describe(r), "the same pipe the child made");
    assertEquals(pipe, Fds.describe(w));
    Fds.write(w, "through the pipe".getBytes(StandardCharsets.UTF_8));
    assertEquals("through the pipe", new String(Fds.read(r, 100), StandardCharsets.UTF_8));

    // Released names are gone for the next daemon; a holder that holds nothing exits.
    for (String n : back.keySet()) {
      next.release(n);
      Fds.close(back.get(n).fd());
    }
    try (HolderClient c = HolderClient.connect(HolderKeeper.socketPath(home))) {
      assertEquals(List.of(), c.list());
      assertEquals(Optional.empty(), c.get("file"));
    }
    next.close();
    holder.onExit().get(30, TimeUnit.SECONDS);
    assertTrue(Files.notExists(HolderKeeper.socketPath(home)), "the holder removes its socket");
  }

  @Test
  void aDescriptorNobodyTakesBackIsClosedAfterTheGrace(@TempDir Path dir) throws Exception {
    Path home = Files.createDirectories(dir.resolve("home"));
    Path file = dir.resolve("f");
    Files.writeString(file, "x");
    Path fifo = dir.resolve("fifo");
    assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
    // The reader blocks until a writer opens, then reads until every writer is gone.
    CompletableFuture<Integer> reader = CompletableFuture.supplyAsync(() -> {
      try (FileInputStream in = new FileInputStream(fifo.toFile())) {
        return in.read();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    Process child = HandoverChild.start(HandoverChild.Put.class, home.toString(), "PT2S", file.toString(), fifo.toString());
    awaitReady(child);
    ProcessHandle holder = holderOf(home);
    child.destroyForcibly();
    assertTrue(child.waitFor(20, TimeUnit.SECONDS));
    // Only the holder still has the FIFO's write end; after the grace it lets go and the reader sees EOF.
    assertEquals(-1, reader.get(60, TimeUnit.SECONDS));
    holder.onExit().get(30, TimeUnit.SECONDS);
    String log = Files.readString(home.resolve("holder.log"));
    assertTrue(log.contains("no daemon took fifo-w back within the grace period: aborting it"), log);
  }

  @Test
  void aHolderThatDiesIsReplacedAndGivenEverythingAgain(@TempDir Path dir) throws Exception {
    Path home = Files.createDirectories(dir.resolve("home"));
    int[] pipe = Fds.pipe();
    HolderKeeper keeper = new HolderKeeper(home, Duration.ofSeconds(60));
    try {
      keeper.keep("pipe-w", pipe[1], Map.of("k", "v"));
      ProcessHandle first = holderOf(home);
      first.destroyForcibly();
      first.onExit().get(30, TimeUnit.SECONDS);
      keeper.check();
      ProcessHandle second = holderOf(home);
      assertTrue(second.pid() != first.pid(), "a new holder");
      assertHolds(home, "pipe-w", pipe[1], Map.of("k", "v"));
      keeper.release("pipe-w");
      keeper.close();
      second.onExit().get(30, TimeUnit.SECONDS);
    } finally {
      keeper.close();
      Fds.closeQuietly(pipe[0]);
      Fds.closeQuietly(pipe[1]);
    }
  }

  @Test
  void aHolderStartedAheadServesTheFirstKeep(@TempDir Path dir) throws Exception {
    Path home = Files.createDirectories(dir.resolve("home"));
    int[] pipe = Fds.pipe();
    HolderKeeper keeper = new HolderKeeper(home, Duration.ofSeconds(60));
    try {
      keeper.prepare();
      keeper.prepare(); // a second mount starting meanwhile: still one holder
      ProcessHandle ahead = null;
      for (int i = 0; i < 300 && ahead == null; i++) { // bounded: 30 s
        ahead = holderOrNull(home);
        if (ahead == null) {
          Thread.sleep(100);
        }
      }
      assertTrue(ahead != null, "prepare started a holder before any keep");
      keeper.keep("pipe-w", pipe[1], Map.of("k", "v"));
      assertEquals(ahead.pid(), holderOf(home).pid(), "the keep used the holder started ahead");
      assertEquals(1, ProcessHandle.allProcesses().filter(p -> isHolderOf(p, home)).count(), "one holder");
      assertHolds(home, "pipe-w", pipe[1], Map.of("k", "v"));
      keeper.release("pipe-w");
      keeper.close();
      ahead.onExit().get(30, TimeUnit.SECONDS);
    } finally {
      keeper.close();
      Fds.closeQuietly(pipe[0]);
      Fds.closeQuietly(pipe[1]);
    }
  }

  /** The holder of {@code home} gives back {@code name} as the same descriptor as {@code fd}, with its meta. */
  private static void assertHolds(Path home, String name, int fd, Map<String, String> meta) throws Exception {
    try (HolderClient c = HolderClient.connect(HolderKeeper.socketPath(home))) {
      HolderClient.Taken t = c.get(name).orElseThrow();
      assertEquals(meta, t.entry().meta());
      assertEquals(Fds.describe(fd), Fds.describe(t.fd()), "the same descriptor");
      Fds.close(t.fd());
    }
  }

  private static String awaitReady(Process child) throws Exception {
    BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
    String pipe = null;
    for (String line; (line = out.readLine()) != null; ) {
      if (line.startsWith("PIPE ")) {
        pipe = line.substring(5);
      }
      if (line.equals("READY")) {
        return pipe;
      }
    }
    throw new AssertionError("child exited " + child.waitFor() + " before it was ready");
  }

  /** The holder serving {@code home}, found by its command line. */
  private static ProcessHandle holderOf(Path home) {
    ProcessHandle h = holderOrNull(home);
    if (h == null) {
      throw new AssertionError("no holder process for " + HolderKeeper.socketPath(home));
    }
    return h;
  }

  private static ProcessHandle holderOrNull(Path home) {
    return ProcessHandle.allProcesses().filter(p -> isHolderOf(p, home)).findFirst().orElse(null);
  }

  private static boolean isHolderOf(ProcessHandle p, Path home) {
    List<String> args = cmdline(p.pid());
    return p.isAlive() && args.contains(HolderKeeper.socketPath(home).toString()) && args.contains(HolderMain.class.getName());
  }

  private static List<String> cmdline(long pid) {
    try {
      return List.of(Files.readString(Path.of("/proc/" + pid + "/cmdline")).split("\0"));
    } catch (java.io.IOException | RuntimeException e) {
      return List.of();
    }
  }

  /** The session id of {@code pid} (field 6 of /proc/PID/stat). */
  private static long sessionOf(long pid) throws Exception {
    String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Long.parseLong(f[3]);
  }
}
