package io.modelcache.daemon;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.fuse.FuseMount;
import io.modelcache.fuse.LiveConnection;
import io.modelcache.fuse.Mounted;
import io.modelcache.handover.FdKeeper;
import io.modelcache.handover.HolderKeeper;
import io.modelcache.handover.KeptConnection;
import io.modelcache.handover.SdNotify;
import io.modelcache.handover.SystemdKeeper;
import io.modelcache.os.Fds;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This daemon's side of keeping mounts across restarts ({@code restart.keepMounts}): every
 * kernel-transport mount's connection (session descriptor and served clone) is kept by an
 * {@link FdKeeper} (systemd's store under systemd, else the holder process), with what the next
 * daemon needs to serve it in {@code state/connections.json} (systemd keeps no metadata). At start
 * the connections a previous daemon kept are taken back, and the mounts restored from the table
 * adopt them ({@link #takeFor}); whatever no mount claims is let go at the end of the restore.
 * Thread-safe (synchronized); off, it does nothing.
 */
final class Handover implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(Handover.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final FdKeeper keeper;
  private final Path table;
  /** Meta of every kept name (both descriptors of each mount), as in {@code connections.json}. */
  private final Map<String, Map<String, String>> meta = new TreeMap<>();
  /** Connections a previous daemon kept, by mountpoint, until a restored mount adopts them. */
  private final Map<String, LiveConnection> taken = new LinkedHashMap<>();
  /** Mountpoints whose connection is kept now. */
  private final java.util.Set<String> kept = new java.util.LinkedHashSet<>();

  private Handover(FdKeeper keeper, Path table) {
    this.keeper = keeper;
    this.table = table;
  }

  static Handover off() {
    return new Handover(null, null);
  }

  /** The keeper for this environment, and what a previous daemon left kept in it. */
  static Handover open(DaemonConfig config, Map<String, String> env) {
    Optional<SdNotify> sd = SdNotify.fromEnvironment(env);
    FdKeeper keeper = sd.<FdKeeper>map(n -> new SystemdKeeper(n, env, ProcessHandle.current().pid(),
            name -> name.startsWith("fuse-")))
        .orElseGet(() -> new HolderKeeper(config.home(), config.settings().restartGrace()));
    Handover h = new Handover(keeper, config.stateDir().resolve("connections.json"));
    h.takeBack();
    LOG.info("kernel-transport mounts outlive this daemon: their FUSE connections are kept by the {}", keeper.describe());
    return h;
  }

  boolean enabled() {
    return keeper != null;
  }

  private synchronized void takeBack() {
    try {
      if (Files.exists(table)) {
        meta.putAll(JSON.readValue(table.toFile(), new TypeReference<Map<String, Map<String, String>>>() {}));
      }
    } catch (IOException e) {
      LOG.warn("cannot read {}: {}", table, e.getMessage());
    }
    Map<String, FdKeeper.Kept> byName = new LinkedHashMap<>();
    try {
      for (FdKeeper.Kept k : keeper.takeBack()) {
        FdKeeper.Kept dup = byName.put(k.name(), k);
        if (dup != null) {
          Fds.closeQuietly(dup.fd());
        }
      }
    } catch (IOException e) {
      LOG.warn("cannot take kept FUSE connections back from the {}: {}", keeper.describe(), e.getMessage());
    }
    for (FdKeeper.Kept k : byName.values()) {
      if (!k.name().endsWith("-s")) {
        continue;
      }
      String base = k.name().substring(0, k.name().length() - 2);
      FdKeeper.Kept clone = byName.get(base + "-c");
      Map<String, String> m = !k.meta().isEmpty() ? k.meta() : meta.getOrDefault(k.name(), Map.of());
      String mp = m.get("mountpoint");
      try {
        if (mp == null || !KeptConnection.sessionName(mp).equals(k.name())) {
          throw new IllegalArgumentException("no mountpoint recorded for it");
        }
        taken.put(mp, KeptConnection.connection(m, k.fd(), clone == null ? -1 : clone.fd()));
        meta.put(k.name(), m);
        if (clone != null) {
          meta.put(clone.name(), m);
        }
      } catch (IllegalArgumentException e) {
        LOG.warn("dropping kept FUSE connection {}: {}", k.name(), e.getMessage());
        Fds.closeQuietly(k.fd());
        if (clone != null) {
          Fds.closeQuietly(clone.fd());
        }
        forgetNames(k.name(), base + "-c");
      }
    }
    for (FdKeeper.Kept k : byName.values()) {
      if (k.name().endsWith("-c") && !byName.containsKey(k.name().substring(0, k.name().length() - 2) + "-s")) {
        Fds.closeQuietly(k.fd()); // a clone without its session: nothing to serve
        forgetNames(k.name());
      }
    }
    // What did not come back (aborted after the grace, or a store that was released) is history.
    if (meta.keySet().retainAll(byName.keySet())) {
      persist();
    }
    if (!taken.isEmpty()) {
      LOG.info("took back {} kept FUSE connection(s): {}", taken.size(), taken.keySet());
    }
  }

  /**
   * The connection a previous daemon kept for the mount at {@code mountpoint}, if it is still that
   * mount (same device in the mount table); it is the caller's then. A kept connection whose
   * mountpoint now shows another mount, or none, is let go.
   */
  synchronized Optional<LiveConnection> takeFor(Path mountpoint) {
    LiveConnection c = taken.remove(mountpoint.toString());
    if (c == null) {
      return Optional.empty();
    }
    long now = FuseMount.mountedDevice(mountpoint);
    if (now != c.device()) {
      LOG.warn("kept FUSE connection of {} is not the mount there now (device {} vs {}): letting it go", mountpoint,
          c.device(), now);
      letGo(mountpoint.toString(), c);
      return Optional.empty();
    }
    return Optional.of(c);
  }

  /** Keeps the connection of the new (or adopted) mount {@code fuse}; jnr mounts are not kept. */
  synchronized boolean keep(Path mountpoint, Mounted fuse) {
    if (keeper == null) {
      return false;
    }
    Optional<LiveConnection> c = fuse.connection();
    if (c.isEmpty()) {
      return false;
    }
    String mp = mountpoint.toString();
    Map<String, String> m = KeptConnection.meta(mp, c.get());
    try {
      keeper.keep(KeptConnection.sessionName(mp), c.get().sessionFd(), m); // systemd: deduplicated when adopted
      if (keeper instanceof SystemdKeeper) {
        // The store keeps every descriptor sent under a name: drop an adopted mount's old clone first
        // (the holder replaces it in one step).
        keeper.release(KeptConnection.cloneName(mp));
      }
      keeper.keep(KeptConnection.cloneName(mp), c.get().serveFd(), m);
      meta.put(KeptConnection.sessionName(mp), m);
      meta.put(KeptConnection.cloneName(mp), m);
      kept.add(mp);
      persist();
      return true;
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot keep the FUSE connection of {} ({}): it will be unmounted when this daemon stops", mp,
          e.getMessage());
      return false;
    }
  }

  /** A mount is starting: the keeper gets ready for its {@code keep} meanwhile (does not wait). */
  void prepare() {
    if (keeper != null) {
      keeper.prepare();
    }
  }

  /** Whether the mount at {@code mountpoint} survives this daemon's stop or crash. */
  synchronized boolean survives(Path mountpoint) {
    return kept.contains(mountpoint.toString());
  }

  /** The mount is torn down on purpose: stop keeping its connection (before it is unmounted). */
  synchronized void release(Path mountpoint) {
    String mp = mountpoint.toString();
    if (kept.remove(mp)) {
      releaseNames(KeptConnection.sessionName(mp), KeptConnection.cloneName(mp));
    }
  }

  /**
   * After the restore: connections no restored mount adopted are let go (their mount ends; the
   * mountpoint is detached so that the directory is usable again).
   */
  synchronized void letGoOfTheRest() {
    for (Map.Entry<String, LiveConnection> e : new LinkedHashMap<>(taken).entrySet()) {
      LOG.warn("no mount in the table for the kept FUSE connection of {}: letting it go", e.getKey());
      letGo(e.getKey(), e.getValue());
      try {
        if (FuseMount.mountedDevice(Path.of(e.getKey())) == e.getValue().device()) {
          FuseMount.lazyUnmount(Path.of(e.getKey()));
        }
      } catch (IOException | RuntimeException ex) {
        LOG.warn("cannot detach {}: {}", e.getKey(), ex.getMessage());
      }
    }
    taken.clear();
  }

  /** Taking over the kept connection of {@code mountpoint} failed: end it, detach the mount. */
  synchronized void abandon(Path mountpoint, LiveConnection c) {
    letGo(mountpoint.toString(), c);
    try {
      FuseMount.lazyUnmount(mountpoint);
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot detach {}: {}", mountpoint, e.getMessage());
    }
  }

  private void letGo(String mp, LiveConnection c) {
    releaseNames(KeptConnection.sessionName(mp), KeptConnection.cloneName(mp));
    Fds.closeQuietly(c.sessionFd());
    Fds.closeQuietly(c.serveFd());
  }

  private void releaseNames(String... names) {
    for (String n : names) {
      try {
        keeper.release(n);
      } catch (IOException | RuntimeException e) {
        LOG.warn("cannot release kept FUSE descriptor {}: {}", n, e.getMessage());
      }
    }
    forgetNames(names);
  }

  private void forgetNames(String... names) {
    boolean changed = false;
    for (String n : names) {
      changed |= meta.remove(n) != null;
    }
    if (changed) {
      persist();
    }
  }

  private void persist() {
    try {
      Path tmp = table.resolveSibling(table.getFileName() + ".tmp");
      Files.write(tmp, JSON.writeValueAsBytes(meta));
      Files.move(tmp, table, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      LOG.warn("cannot save {}: {}", table, e.getMessage());
    }
  }

  /** Periodic: a holder that died is replaced and handed every kept connection again. */
  synchronized void check() {
    if (keeper == null || kept.isEmpty()) {
      return;
    }
    try {
      keeper.check();
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot keep FUSE connections in the {}: {}", keeper.describe(), e.getMessage());
    }
  }

  String describe() {
    return keeper == null ? "off" : keeper.describe();
  }

  /** This daemon stops: what is kept stays kept (the holder's grace starts). */
  @Override
  public synchronized void close() {
    if (keeper != null) {
      keeper.close();
    }
  }
}
