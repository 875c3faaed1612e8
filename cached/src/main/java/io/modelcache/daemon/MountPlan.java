package io.modelcache.daemon;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What to change so that the declared mounts match the files: pure, so reconciliation is tested
 * without FUSE. A mount whose file changed its reference is unmounted, then mounted again.
 */
public record MountPlan(List<DeclaredMount> unmount, List<DeclaredMount> mount) {

  public static MountPlan between(Map<Path, DeclaredMount> current, Map<Path, DeclaredMount> desired) {
    List<DeclaredMount> un = new ArrayList<>();
    List<DeclaredMount> mo = new ArrayList<>();
    for (var e : current.entrySet()) {
      DeclaredMount want = desired.get(e.getKey());
      if (want == null || !want.sameMount(e.getValue())) {
        un.add(e.getValue());
      }
    }
    for (var e : desired.entrySet()) {
      DeclaredMount have = current.get(e.getKey());
      if (have == null || !have.sameMount(e.getValue())) {
        mo.add(e.getValue());
      }
    }
    return new MountPlan(List.copyOf(un), List.copyOf(mo));
  }

  /** The declared mounts among live mounts' records (mounts by hand have no declaring file). */
  public static Map<Path, DeclaredMount> declaredIn(Iterable<MountRecord> live) {
    Map<Path, DeclaredMount> current = new java.util.LinkedHashMap<>();
    for (MountRecord r : live) {
      if (r.declaredBy() != null) {
        current.put(Path.of(r.mountpoint()), new DeclaredMount(r.declaredBy(), r.reference(), Path.of(r.mountpoint()), r.plainHttp()));
      }
    }
    return current;
  }

  public boolean isEmpty() {
    return unmount.isEmpty() && mount.isEmpty();
  }
}
