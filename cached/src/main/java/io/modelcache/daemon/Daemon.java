package io.modelcache.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.access.AccessPolicy;
import io.modelcache.access.Caller;
import io.modelcache.access.MountMode;
import io.modelcache.cache.CacheConfig;
import io.modelcache.cache.ChunkCache;
import io.modelcache.config.Settings;
import io.modelcache.control.ControlServer;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.fuse.FuseTransport;
import io.modelcache.fuse.KernelTransport;
import io.modelcache.handover.KeptConnection;
import io.modelcache.fuse.FusePrerequisites;
import io.modelcache.metrics.DaemonMetrics;
import io.modelcache.metrics.MetricsServer;
import io.modelcache.oci.Reference;
import io.modelcache.os.Sockets;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ModelCache daemon. It owns the shared chunk cache, every FUSE mount and the control socket.
 * Mount and unmount are serialized by {@code this}; reads never take that lock. Its parts: making a
 * live mount ({@link MountMaker}), restoring the mount table at start ({@link MountRestore}), ending
 * a mount or leaving it for the next daemon ({@link MountTeardown}); it keeps the live mounts, the
 * control requests, mounts.d reconciling, the table's writes and the order of start and stop.
 */
public final class Daemon implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** How long a stop waits for mount requests in progress (their registry may be slow). */
  private static final long PENDING_MOUNTS_WAIT_MS = 30_000;

  private final DaemonConfig config;
  private final ChunkCache cache;
  private final HomeLock lock;
  private final DaemonMetrics metrics;
  private final MetricsServer metricsServer;
  private final Map<Path, ActiveMount> mounts = new LinkedHashMap<>();
  /** Mountpoints of mount requests in progress (made without this daemon's lock); guarded by this. */
  private final java.util.Set<Path> pending = new java.util.HashSet<>();
  private final ControlServer control;
  private final ScheduledExecutorService reconciler;
  /** What mounts.d declares, read at every reconcile. */
  private final MountsDir mountsDir;
  /** The mounts to restore at the next start, at their pinned digests. */
  private final MountTable table;
  private final OperatorOps ops;
  /** Makes each live mount; hands it to {@link #live} the moment it is live. */
  private final MountMaker maker;
  private final AccessPolicy policy;
  /** The FUSE transport every mount of this daemon uses (fuse.transport, or jnr as the fallback). */
  private final FuseTransport transport;
  private final CountDownLatch stopped = new CountDownLatch(1);
  private volatile boolean closed;
  /** Kernel-transport connections kept across restarts (restart.keepMounts), or off. */
  private final Handover handover;
  /** Unmounts a mount, or leaves it mounted at stop for the next daemon. */
  private final MountTeardown teardown;
  /** Set by {@link #stopAndUnmount}: this stop unmounts even mounts that could be handed over. */
  private volatile boolean unmountOnClose;

  private Daemon(DaemonConfig config, ChunkCache cache, DaemonMetrics metrics, MetricsServer metricsServer,
      AccessPolicy policy, FuseTransport transport, HomeLock lock) throws IOException {
    this.config = config;
    this.lock = lock;
    this.mountsDir = new MountsDir(MountsDir.dirs(config.settings()));
    this.table = new MountTable(config.stateDir().resolve("mounts.json"));
    this.transport = transport;
    this.policy = policy;
    this.cache = cache;
    this.metrics = metrics;
    this.metricsServer = metricsServer;
    this.ops = new OperatorOps(config, cache, metrics, this::activeMounts, this::metricsPort);
    this.maker = new MountMaker(config, cache, metrics, ops, transport, this::live);
    this.handover = FuseSetup.keepsMounts(config.settings(), transport) ? Handover.open(config, System.getenv()) : Handover.off();
    this.teardown = new MountTeardown(handover, metrics, ops);
    ops.survivesRestart(mp -> handover.survives(Path.of(mp)), handover.describe());
    try {
      restoreMounts();
    } finally {
      cache.releaseEviction();
    }
    this.control = new ControlServer(config.home(), policy.rules().group(), this::handle);
    this.reconciler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "mounts.d");
      t.setDaemon(true);
      return t;
    });
    reconciler.scheduleWithFixedDelay(this::reconcileQuietly, 0, RECONCILE_EVERY.toMillis(), TimeUnit.MILLISECONDS);
    reconciler.scheduleWithFixedDelay(this::recheckIndexes, IndexLookup.RECHECK_SECONDS, IndexLookup.RECHECK_SECONDS,
        TimeUnit.SECONDS);
    if (handover.enabled()) {
      handover.prepare(); // the holder's JVM starts with the daemon, not in its first mount's time
      reconciler.scheduleWithFixedDelay(handover::check, 5, 5, TimeUnit.SECONDS);
    }
  }

  /** Mounts served without a chunk index look again: one may have been pushed since (modelcache index). */
  private void recheckIndexes() {
    IndexLookup.recheck(activeMounts(), config.settings().trustPolicy(), () -> !closed);
  }

  /** How often mounts.d is compared with the live mounts: ConfigMap updates arrive as file swaps. */
  static final Duration RECONCILE_EVERY = Duration.ofSeconds(2);

  private void reconcileQuietly() {
    try {
      reconcile();
    } catch (Throwable t) {
      LOG.error("reconciling mounts.d failed: {}", t.toString());
    }
  }

  /**
   * Makes the declared mounts match the files in mounts.d: mounts what a new file declares, unmounts
   * what a removed file declared, replaces a mount whose file changed. Mounts made by hand are left
   * alone. A file that cannot be read or mounted is reported once per distinct error and retried.
   * The plan and the unmounts run under the daemon's lock; each mount runs outside it, its
   * mountpoint reserved, like a mount by hand (a slow registry must not stall ls and status).
   */
  void reconcile() {
    Map<DeclaredMount, Reference> toMount = new LinkedHashMap<>();
    boolean changed = false;
    synchronized (this) {
      if (closed) {
        return;
      }
      MountPlan plan = MountPlan.between(MountPlan.declaredIn(mounts.values().stream().map(ActiveMount::record).toList()),
          mountsDir.declared());
      for (DeclaredMount m : plan.unmount()) {
        ActiveMount a = mounts.remove(m.mountpoint());
        if (a != null) {
          LOG.info("{} no longer declares {}: unmounting", m.file(), m.mountpoint());
          teardown.release(a);
          changed = true;
        }
      }
      for (DeclaredMount m : plan.mount()) {
        try {
          Reference ref = Reference.parse(m.reference()); // before the mountpoint is created
          Files.createDirectories(m.mountpoint());
          checkMountpoint(m.mountpoint());
          pending.add(m.mountpoint());
          toMount.put(m, ref);
        } catch (IOException | RuntimeException e) {
          mountsDir.cannotMount(m, e);
        }
      }
    }
    for (var e : toMount.entrySet()) {
      DeclaredMount m = e.getKey();
      try {
        if (closed) {
          continue; // the stop unmounts what is live; the rest waits for the next start
        }
        handover.prepare();
        maker.mount(new MountRecord(m.reference(), null, m.mountpoint().toString(), m.plainHttp(), m.file()), e.getValue(), null);
        mountsDir.resolved(m.file());
        changed = true;
      } catch (IOException | RuntimeException ex) {
        mountsDir.cannotMount(m, ex);
      } finally {
        release(m.mountpoint());
      }
    }
    if (changed) {
      synchronized (this) {
        try {
          persist();
        } catch (IOException e) {
          LOG.error("cannot save the mount table: {}", e.toString());
        }
      }
    }
  }

  /** Starts the daemon: opens the cache, restores persisted mounts, then listens on the socket. */
  public static Daemon start(DaemonConfig config) throws IOException {
    String sock = ControlServer.socketPath(config.home()).toString();
    int len = sock.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    if (len > Sockets.MAX_PATH_BYTES) {
      throw new ModelCacheException(Kind.USAGE, "daemon home " + config.home() + " is too long for its sockets ("
          + sock + " would be " + len + " bytes; a unix socket path has at most " + Sockets.MAX_PATH_BYTES + ")");
    }
    try {
      Files.createDirectories(config.home());
      Files.createDirectories(config.stateDir());
    } catch (IOException e) {
      throw new ModelCacheException(Kind.IO, "cannot create daemon home " + config.home() + ": " + e.getMessage());
    }
    // Before anything of the home is opened: a second daemon here must not touch the live cache index.
    HomeLock lock = HomeLock.acquire(config.home(), Duration.ofSeconds(5));
    try {
      return start(config, lock);
    } catch (IOException | RuntimeException e) {
      lock.close();
      throw e;
    }
  }

  private static Daemon start(DaemonConfig config, HomeLock lock) throws IOException {
    Settings s = config.settings();
    // One line per missing FUSE piece, once: the daemon still starts (status, cache and profile
    // commands work without FUSE), and each mount checks again and fails with the same line.
    FuseTransport transport = FuseSetup.chooseTransport(s);
    for (FusePrerequisites.Problem p : FusePrerequisites.check(FusePrerequisites.DEVICE, transport.needsLibfuse2())) {
      LOG.warn("FUSE is not usable, mounts will fail: {}", p.message());
    }
    // With kept mounts, nothing is evicted until the restore pinned again the cache files the
    // kernel reads in passthrough for them (the previous daemon's pins died with it).
    ChunkCache cache = ChunkCache.open(CacheConfig.defaults(config.cacheDir())
        .withBudgetBytes(s.cacheSizeBytes())
        .withChunkSize(s.chunkSizeBytes())
        .withFetchTimeout(s.fetchTimeout())
        .withMaxConcurrentFetches(s.fetchConcurrency()), FuseSetup.keepsMounts(s, transport));
    DaemonMetrics metrics = new DaemonMetrics();
    metrics.bindCache(cache);
    KernelTransport.configureDefault(s.fusePassthrough(), s.fuseSpliceReplies(), metrics.passthroughStats());
    // Kept connections record their open handles (mode, backing id) for the next daemon.
    KernelTransport.configureDefaultHandover(FuseSetup.requestTimeoutSeconds(s), FuseSetup.keepsMounts(s, transport)
        ? mp -> config.stateDir().resolve("opens").resolve(KeptConnection.id(mp.toString()) + ".log") : null);
    MetricsServer server = null;
    try {
      if (!s.metricsAddress().isEmpty()) {
        server = MetricsServer.start(s.metricsAddress(), metrics.registry());
      }
      Daemon d = new Daemon(config, cache, metrics, server, Access.policy(config), transport, lock);
      // After start, not during it: on 2 vCPUs, running it beside the cache's opening delayed "ready".
      FirstMountPrep.start(config.registryOptions(), JSON, transport);
      return d;
    } catch (IOException | RuntimeException e) {
      if (server != null) {
        server.close();
      }
      cache.close();
      throw e;
    }
  }

  public DaemonConfig config() {
    return config;
  }

  public ChunkCache cache() {
    return cache;
  }

  public DaemonMetrics metrics() {
    return metrics;
  }

  /** The metrics endpoint's port, or -1 when it is off. */
  public int metricsPort() {
    return metricsServer == null ? -1 : metricsServer.port();
  }

  /** Blocks until {@link #close()} has run. */
  public void awaitStop() throws InterruptedException {
    stopped.await();
  }

  private ObjectNode handle(JsonNode req, Caller caller) throws Exception {
    String op = req.path("op").asText("");
    Access.check(policy.operation(caller, op));
    Boolean plainHttp = req.hasNonNull("plainHttp") ? req.get("plainHttp").asBoolean() : null;
    if (op.equals("warm") && req.hasNonNull("ref")) {
      Access.check(policy.warm(caller, req.get("ref").asText(), plainHttp));
    }
    return switch (op) {
      case "mount" -> mount(req.path("ref").asText(), Path.of(req.path("dir").asText()), plainHttp, caller);
      case "umount" -> umount(Path.of(req.path("dir").asText()), caller);
      case "ls" -> list();
      case "ping" -> JSON.createObjectNode().put("pid", ProcessHandle.current().pid());
      case "status", "warm", "progress", "cache-ls", "cache-verify", "cache-evict", "cache-gc" -> ops.handle(op, req);
      case "profile-export", "profile-import", "profile-ls" -> ops.handle(op, req);
      default -> throw new ModelCacheException(Kind.USAGE, "unknown control operation '" + op + "'");
    };
  }

  /** Mounts {@code ref} at {@code dir} as root; returns once the mount is live and listable. */
  public ObjectNode mount(String refText, Path dir, Boolean plainHttp) throws IOException {
    return mount(refText, dir, plainHttp, Caller.root(ProcessHandle.current().pid()));
  }

  /**
   * Mounts {@code ref} at {@code dir} for {@code caller} if the access policy allows it (a user's
   * mount belongs to her: see {@link AccessPolicy#mountMode}); returns once it is live.
   */
  public ObjectNode mount(String refText, Path dir, Boolean plainHttp, Caller caller) throws IOException {
    Path mp = caller.isRoot() ? Mountpoint.real(dir) : dir.toAbsolutePath().normalize(); // a user's is checked as given
    Reference ref;
    MountRecord rec;
    synchronized (this) {
      if (closed) {
        throw new ModelCacheException(Kind.DAEMON, "daemon is shutting down");
      }
      if (!caller.isRoot()) {
        Access.check(policy.mount(caller, refText, plainHttp, Access.inspect(mp)));
      }
      ref = Reference.parse(refText);
      checkMountpoint(mp);
      MountMode mode = policy.mountMode(caller);
      Integer uid = mode.isRoot() ? null : mode.ownerUid();
      Integer gid = mode.isRoot() ? null : mode.ownerGid();
      rec = new MountRecord(refText, null, mp.toString(), plainHttp, null, uid, gid);
      pending.add(mp); // the mountpoint is this request's until it ends, either way
      handover.prepare(); // the holder's JVM starts while the manifest is fetched and the mount made
    }
    try {
      // Without the daemon's lock: the manifest, the trust check, the index and the wait for the
      // headers may take seconds (minutes against a registry that does not answer), and other
      // mounts, ls and status must not wait for them.
      ActiveMount a = maker.mount(rec, ref, null);
      synchronized (this) {
        if (closed) {
          throw new ModelCacheException(Kind.DAEMON, "daemon is shutting down"); // close() unmounts it
        }
        LOG.info("mount of {} at {} for {}", refText, mp, caller.describe());
        persist();
        return a.describe(JSON, handover.survives(Path.of(a.record().mountpoint())));
      }
    } finally {
      release(mp);
    }
  }

  /** Ends a mount request's hold on its mountpoint (a stop may be waiting for it). */
  private synchronized void release(Path mp) {
    pending.remove(mp);
    notifyAll();
  }

  private Path checkMountpoint(Path dir) throws ModelCacheException {
    Path mp = dir.toAbsolutePath().normalize();
    ActiveMount existing = mounts.get(mp);
    if (existing != null) {
      throw new ModelCacheException(Kind.USAGE,
          "mountpoint " + mp + " is already mounted (" + existing.record().reference() + ")");
    }
    if (pending.contains(mp)) {
      throw new ModelCacheException(Kind.USAGE, "mountpoint " + mp + " is being mounted by another request");
    }
    Mountpoint.checkFree(mp, config.home());
    return mp;
  }

  /**
   * A mount the moment it is live: one of this daemon's, its connection kept where mounts outlive it.
   * Also after {@link #close} began: close waits for mounts in progress and then unmounts them too.
   */
  private synchronized void live(Path mp, ActiveMount a) {
    mounts.put(mp, a);
    handover.keep(mp, a.fuse());
  }

  /** The FUSE transport mounts use ("kernel" or "jnr"). */
  public String transportName() {
    return transport.name();
  }

  public ObjectNode umount(Path dir) throws IOException {
    return umount(dir, Caller.root(ProcessHandle.current().pid()));
  }

  /** Unmounts the mount at {@code dir} if {@code caller} is root or the user who mounted it. */
  public synchronized ObjectNode umount(Path dir, Caller caller) throws IOException {
    Path mp = Mountpoint.lookup(mounts.keySet(), dir);
    ActiveMount a = mounts.get(mp);
    if (a == null) {
      throw new ModelCacheException(Kind.USAGE, mp + " is not a ModelCache mount");
    }
    Access.check(policy.umount(caller, mp.toString(), a.record().owner()));
    if (a.record().declaredBy() != null && Files.exists(Path.of(a.record().declaredBy()))) {
      throw new ModelCacheException(Kind.USAGE, mp + " is declared by " + a.record().declaredBy()
          + "; remove that file to unmount it");
    }
    teardown.release(a);
    mounts.remove(mp);
    LOG.info("unmount of {} for {}", mp, caller.describe());
    persist();
    return JSON.createObjectNode().put("mountpoint", mp.toString());
  }

  public synchronized ObjectNode list() {
    ObjectNode out = JSON.createObjectNode();
    ArrayNode arr = out.putArray("mounts");
    for (ActiveMount a : mounts.values()) {
      arr.add(a.describe(JSON, handover.survives(Path.of(a.record().mountpoint()))));
    }
    out.put("cacheUsedBytes", cache.usedBytes()).put("cacheBudgetBytes", cache.budgetBytes());
    return out;
  }

  /** A snapshot of the live mounts, for operator commands that must not hold the daemon's lock. */
  synchronized List<ActiveMount> activeMounts() {
    return List.copyOf(mounts.values());
  }

  private void persist() throws IOException {
    List<MountRecord> recs = new ArrayList<>();
    for (ActiveMount a : mounts.values()) {
      recs.add(a.record());
    }
    table.write(recs);
  }

  /**
   * Waits (releasing this lock, so that they can go live) for mount requests in progress to end, at
   * most {@code ms}: a mount that ends later is left to the next start's clean-up of stale mounts.
   */
  private synchronized void awaitPendingMounts(long ms) {
    long deadline = System.nanoTime() + ms * 1_000_000L;
    while (!pending.isEmpty()) {
      long left = (deadline - System.nanoTime()) / 1_000_000L;
      if (left <= 0) {
        LOG.warn("stopping with {} mount request(s) still in progress: {}", pending.size(), pending);
        return;
      }
      try {
        wait(left);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Restores the mount table ({@link MountRestore}) and saves what came back. */
  private synchronized void restoreMounts() throws IOException {
    List<MountRecord> recs = table.read();
    if (recs == null) {
      return;
    }
    MountRestore.restore(recs, handover, this::checkMountpoint, maker::mount);
    persist();
  }

  /** Stops like {@link #close}, but unmounts every mount, kept ones too ({@code daemon --unmount-on-exit}). */
  public void stopAndUnmount() {
    unmountOnClose = true;
    close();
  }

  /**
   * Stops: mounts whose connection is kept (restart.keepMounts, kernel transport) are left mounted
   * for the next daemon, the others are unmounted (the table is kept, so the next start restores
   * or takes over every mount), and the cache is closed.
   */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      reconciler.shutdownNow();
      try {
        control.close();
      } catch (IOException e) {
        LOG.debug("closing control socket: {}", e.toString());
      }
      awaitPendingMounts(PENDING_MOUNTS_WAIT_MS);
      teardown.stop(mounts.values(), () -> unmountOnClose);
      mounts.clear();
      handover.close();
      if (metricsServer != null) {
        metricsServer.close();
      }
      try {
        cache.close();
      } catch (IOException e) {
        LOG.warn("closing cache: {}", e.toString());
      }
      lock.close(); // last: the next daemon on this home may start now
    }
    stopped.countDown();
  }
}
