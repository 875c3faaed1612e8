package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MemAvailable capped by the memory cgroup, read from /proc and cgroupfs trees laid out in a temp dir. */
class AvailableMemoryTest {
  private static final long GIB = 1L << 30;
  @TempDir Path tmp;

  private Path proc(String selfCgroup) throws Exception {
    Path proc = Files.createDirectories(tmp.resolve("proc/self"));
    Files.writeString(proc.resolve("cgroup"), selfCgroup);
    Files.writeString(proc.getParent().resolve("meminfo"),
        "MemTotal:       1073741824 kB\nMemFree:        1000000000 kB\nMemAvailable:   1048576000 kB\n");
    return proc.getParent();
  }

  private void write(Path dir, String file, String text) throws Exception {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(file), text);
  }

  @Test
  void withoutALimitItIsMemAvailable() throws Exception {
    Path cg = tmp.resolve("cg");
    write(cg.resolve("kubepods/pod1"), "memory.max", "max\n");
    Path proc = proc("0::/kubepods/pod1\n");
    assertEquals(1048576000L * 1024, AvailableMemory.read(proc, cg));
  }

  @Test
  void aV2PodLimitCapsItLessItsAnonymousMemory() throws Exception {
    Path cg = tmp.resolve("cg");
    write(cg.resolve("kubepods"), "memory.max", "max\n");
    write(cg.resolve("kubepods/pod1"), "memory.max", (16 * GIB) + "\n");
    write(cg.resolve("kubepods/pod1"), "memory.stat", "anon " + (3 * GIB) + "\nfile " + (12 * GIB) + "\n");
    Path proc = proc("0::/kubepods/pod1\n");
    assertEquals(13 * GIB, AvailableMemory.read(proc, cg), "page cache in the pod is reclaimable: only anon counts");
    // A 10 GiB model is more than half of that: it bypasses the page cache, on a node with 1000 GiB free.
    assertTrue(DirectFile.worthIt(10 * GIB, AvailableMemory.read(proc, cg)));
  }

  @Test
  void theTightestAncestorWins() throws Exception {
    Path cg = tmp.resolve("cg");
    write(cg.resolve("system.slice"), "memory.max", (8 * GIB) + "\n");
    write(cg.resolve("system.slice"), "memory.stat", "anon " + GIB + "\n");
    write(cg.resolve("system.slice/modelcache.service"), "memory.max", "max\n");
    Path proc = proc("0::/system.slice/modelcache.service\n");
    assertEquals(7 * GIB, AvailableMemory.read(proc, cg));
  }

  @Test
  void aV1LimitIsReadFromTheMemoryController() throws Exception {
    Path cg = tmp.resolve("cg");
    write(cg.resolve("memory/docker/abc"), "memory.limit_in_bytes", (4 * GIB) + "\n");
    write(cg.resolve("memory/docker/abc"), "memory.stat", "cache 100\nrss 5\ntotal_rss " + GIB + "\n");
    write(cg.resolve("memory"), "memory.limit_in_bytes", "9223372036854771712\n"); // v1's "no limit"
    Path proc = proc("9:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n");
    assertEquals(3 * GIB, AvailableMemory.read(proc, cg));
  }

  @Test
  void anonymousMemoryOverTheLimitLeavesNothing() throws Exception {
    Path cg = tmp.resolve("cg");
    write(cg.resolve("p"), "memory.max", GIB + "\n");
    write(cg.resolve("p"), "memory.stat", "anon " + (2 * GIB) + "\n");
    long avail = AvailableMemory.read(proc("0::/p\n"), cg);
    assertEquals(1, avail, "known to be full, not unknown");
    assertTrue(DirectFile.worthIt(1 << 20, avail), "a cgroup at its limit keeps nothing in the page cache");
  }

  @Test
  void unreadableFilesMeanNoLimitAndNoMemAvailableMeansUnknown() throws Exception {
    Path cg = tmp.resolve("nothing-here");
    Path proc = proc("0::/gone\n");
    assertEquals(1048576000L * 1024, AvailableMemory.read(proc, cg));
    Files.writeString(proc.resolve("meminfo"), "MemTotal: 1 kB\n");
    assertEquals(0, AvailableMemory.read(proc, cg));
    assertEquals(0, AvailableMemory.memAvailable(List.of("MemAvailable: lots")));
  }

  @Test
  void thisMachinesFilesAreRead() {
    assertTrue(AvailableMemory.read() > 0, "/proc/meminfo has MemAvailable (at least 1 byte when the cgroup is full)");
  }

  @Test
  void aCgroupPathMissingUnderTheMountCountsAsNoLimit() throws Exception {
    Path cg = tmp.resolve("cg");
    write(cg, "memory.max", "max\n");
    assertEquals(1048576000L * 1024, AvailableMemory.read(proc("0::/../../outside/ns\n"), cg));
  }
}
