package io.modelcache.fuse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Manual measurement (not a test): mounts the sample tree N times with one transport under a
 * scratch directory, reads every mount's README once, then prints the process's live threads and
 * VmRSS; unmounts everything. Usage: MountScaleMain kernel|jnr N DIR.
 */
public final class MountScaleMain {
  public static void main(String[] args) throws Exception {
    FuseTransport t = FuseTransport.named(args[0]);
    int n = Integer.parseInt(args[1]);
    Path dir = Path.of(args[2]);
    MemoryTree tree = MemoryTree.sample(); // one tree mounted N times: its bytes count once
    List<Mounted> mounts = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        Path mp = Files.createDirectories(dir.resolve("m" + i));
        Mounted m = t.mount(mp, tree, FuseOptions.defaults().withFsName("scale-test"));
        mounts.add(m);
        Files.readAllBytes(mp.resolve("README.md"));
      }
      System.gc();
      Thread.sleep(500);
      String rss = Files.readAllLines(Path.of("/proc/self/status")).stream()
          .filter(l -> l.startsWith("VmRSS:")).findFirst().orElse("?").replaceAll("\\s+", " ");
      System.out.println("RESULT transport=" + t.name() + " mounts=" + n + " threads=" + Thread.getAllStackTraces().size()
          + " osThreads=" + Files.list(Path.of("/proc/self/task")).count() + " " + rss);
    } finally {
      for (Mounted m : mounts) {
        m.close();
      }
    }
  }
}
