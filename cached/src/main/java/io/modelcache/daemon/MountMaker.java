package io.modelcache.daemon;

import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.ChunkDigests;
import io.modelcache.fuse.FusePrerequisites;
import io.modelcache.fuse.FuseOptions;
import io.modelcache.fuse.FuseTransport;
import io.modelcache.fuse.FuseUnavailableException;
import io.modelcache.fuse.KernelTransport;
import io.modelcache.fuse.LiveConnection;
import io.modelcache.fuse.Mounted;
import io.modelcache.metrics.DaemonMetrics;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.Reference;
import io.modelcache.source.Artifacts;
import io.modelcache.source.ResilientSource;
import io.modelcache.trust.TrustGate;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes one live mount from its record: the FUSE prerequisites before any registry traffic, the
 * trust policy on the manifest digest (a refused model has none of its blobs fetched), the model
 * tree with its chunk index and metrics, then the FUSE mount, or, given a connection a previous
 * daemon kept for it, the adoption of that connection (the tree is rebuilt at the pinned digest;
 * the kernel still holds the mount). The new mount is handed to the daemon's {@link Registry} the
 * moment it is live, and its read-ahead starts only then; the mount answers once every shard's
 * header is local (bounded by {@link #HEADER_WAIT}) and, for a new mount, once the loader's first
 * reads have run through it ({@link MountWarmup}). Its background fill waits for that answer and for
 * the loader's first reads after it. Called under the daemon's lock.
 */
final class MountMaker {
  private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

  /** How long a mount waits for every shard's header before it answers (issue 12: headers local at once). */
  static final Duration HEADER_WAIT = Duration.ofSeconds(10);
  /** How long the mount command reads the local headers through the new mount ({@link MountWarmup}). */
  static final Duration WARMUP_WAIT = Duration.ofSeconds(2);
  /**
   * The fill starts after the mount command's answer, not with the mount; off with
   * {@code -Dmodelcache.mount.fillAfterAnswer=false} (for measuring what it buys).
   */
  static final boolean FILL_AFTER_ANSWER = !"false".equals(System.getProperty("modelcache.mount.fillAfterAnswer"));

  /** Where a mount goes the moment it is live (the daemon's mounts, the handover), before its fill starts. */
  interface Registry {
    void live(Path mp, ActiveMount a);
  }

  private final DaemonConfig config;
  private final ChunkCache cache;
  private final DaemonMetrics metrics;
  private final OperatorOps ops;
  /** The FUSE transport every mount of this daemon uses, chosen once at start. */
  private final FuseTransport transport;
  private final Registry registry;

  MountMaker(DaemonConfig config, ChunkCache cache, DaemonMetrics metrics, OperatorOps ops, FuseTransport transport,
      Registry registry) {
    this.config = config;
    this.cache = cache;
    this.metrics = metrics;
    this.ops = ops;
    this.transport = transport;
    this.registry = registry;
  }

  /** Mounts {@code rec}, or, with {@code adopt}, serves the connection a previous daemon kept for it. */
  ActiveMount mount(MountRecord rec, Reference ref, LiveConnection adopt) throws IOException {
    Path mp = Path.of(rec.mountpoint());
    try {
      FusePrerequisites.require(FusePrerequisites.DEVICE, transport.needsLibfuse2()); // before any registry traffic
    } catch (FuseUnavailableException e) {
      throw FuseSetup.fuseUnavailable(mp, e);
    }
    // Transient registry faults are retried (streams resumed) for as long as fetch.timeout allows.
    ResilientSource source = new ResilientSource(Artifacts.openSource(ref,
        config.registryOptions().withPlainHttp(rec.plainHttp()), config.settings().registries()),
        ResilientSource.Policy.of(config.settings().fetchTimeout()));
    ModelMount model = null;
    try {
      // The trust policy first, on the manifest digest: a refused model has none of its blobs fetched.
      String asked = rec.digest() != null ? rec.digest() : ref.tagOrDigest();
      TrustGate.Admission admission = TrustGate.admit(source, ref, asked, rec.reference(), config.settings().trustPolicy());
      // Bytes damaged on the way (a config that fails its digest, a tar header its checksum) are read again.
      ModelArtifact art = source.again(() -> ModelReader.read(source, admission.target(asked)));
      String registryLabel = ref.isLayout() ? "oci-layout" : ref.registry();
      OperatorOps.MountTracker tracker = ops.track(mp, metrics);
      Map<String, ChunkDigests> digests = IndexLookup.find(mp.toString(), art, source,
          config.settings().trustPolicy().ruleFor(ref), false);
      model = ModelMount.withReadAheadDeferred(art, source, cache,
          MountWiring.fetchObserver(metrics, registryLabel, tracker), MountWiring.readAhead(config, metrics), digests);
      model.serveOnlyVerified(config.settings().strictUnindexed());
      Mounted fuse;
      try {
        FuseOptions options = FuseOptions.defaults()
            .withAllowOther(config.settings().allowOther())
            .withOwner(rec.owner(), rec.ownerGid() == null ? 0 : rec.ownerGid())
            .withReadAheadKb(config.settings().readAheadKb())
            .withListener(tracker)
            .withFsName("modelcache:" + ref);
        fuse = adopt != null ? ((KernelTransport) FuseTransport.kernel()).adopt(mp, adopt, model, options)
            : transport.mount(mp, model, options);
      } catch (FuseUnavailableException e) {
        throw FuseSetup.fuseUnavailable(mp, e);
      } catch (LinkageError e) {
        throw FuseSetup.linkageFailed(mp, transport, e);
      }
      metrics.bindMount(mp.toString(), MountWiring.view(model));
      MountRecord pinned = new MountRecord(rec.reference(), art.manifest().digest().toString(), mp.toString(),
          rec.plainHttp(), rec.declaredBy(), rec.ownerUid(), rec.ownerGid());
      ActiveMount a = new ActiveMount(pinned, model, source, fuse, admission.state());
      registry.live(mp, a);
      LOG.info("mounted {} ({}) at {}", rec.reference(), art.manifest().digest(), mp);
      if (FILL_AFTER_ANSWER) {
        model.holdFillUntilAnswered();
      }
      model.startReadAhead(); // only now: the fill's fetches would slow the mount itself down
      // The mount command returns once the loader's first reads are local (bounded: a slow registry
      // delays the answer by HEADER_WAIT at most, and the headers then come on demand). The fill
      // waits for that answer and then for the loader's first reads (a profile replay does not wait).
      try {
        if (!model.awaitHeaders(HEADER_WAIT)) {
          LOG.debug("{}: headers not all local after {} s; mount answered anyway", mp, HEADER_WAIT.toSeconds());
        } else if (adopt == null && MountWarmup.ENABLED) {
          model.warming(true);
          try {
            MountWarmup.readHeads(mp, model.localHeads(), WARMUP_WAIT);
          } finally {
            model.warming(false);
          }
        }
      } finally {
        model.answered();
      }
      return a;
    } catch (IOException | RuntimeException e) {
      if (model != null) {
        model.close();
      }
      source.close();
      throw e;
    }
  }
}
