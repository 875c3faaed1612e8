package io.modelcache.handover;

import io.modelcache.os.Fds;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Keeps descriptors in systemd's per-service file descriptor store: {@code FDSTORE=1} with
 * {@code FDNAME=name} to keep, {@code FDSTOREREMOVE=1} to release, and at the next start the manager
 * passes them back from fd 3 (LISTEN_FDS, LISTEN_FDNAMES). The store lives as long as the unit is
 * active or has a job queued (a restart), so a crash, {@code systemctl restart} and an upgrade keep
 * the connections and {@code systemctl stop} ends them; systemd also drops a stored FUSE descriptor
 * itself once its connection is gone (POLLERR). No metadata survives: a name must say what it is.
 * Needs {@code FileDescriptorStoreMax=} and {@code NotifyAccess=} in the unit.
 */
public final class SystemdKeeper implements FdKeeper {
  private final SdNotify notify;
  private final Map<String, String> env;
  private final long pid;
  private final Predicate<String> ours;

  /**
   * @param ours which passed names are this keeper's (other passed descriptors are left alone)
   */
  public SystemdKeeper(SdNotify notify, Map<String, String> env, long pid, Predicate<String> ours) {
    this.notify = notify;
    this.env = Map.copyOf(env);
    this.pid = pid;
    this.ours = ours;
  }

  @Override
  public String describe() {
    return "systemd file descriptor store (" + notify.socket() + ")";
  }

  @Override
  public void keep(String name, int fd, Map<String, String> meta) throws IOException {
    if (!HolderProtocol.validName(name)) {
      throw new IllegalArgumentException("bad descriptor name '" + name + "'");
    }
    notify.notify(SdNotify.storeMessage(name), fd);
  }

  @Override
  public void release(String name) throws IOException {
    notify.notify(SdNotify.removeMessage(name));
  }

  @Override
  public List<Kept> takeBack() throws IOException {
    List<Kept> out = new ArrayList<>();
    Set<Integer> seen = new java.util.HashSet<>();
    for (ListenFds.Passed p : ListenFds.parse(env, pid)) {
      if (ours.test(p.name()) && seen.add(p.fd())) {
        // Passed without close-on-exec: take a close-on-exec duplicate, close the original.
        int fd = Fds.dup(p.fd());
        Fds.closeQuietly(p.fd());
        out.add(new Kept(p.name(), fd, Map.of()));
      }
    }
    return out;
  }

  @Override
  public void close() {
    // nothing: the store outlives this process by design
  }
}
