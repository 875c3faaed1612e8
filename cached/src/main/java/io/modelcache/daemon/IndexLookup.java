package io.modelcache.daemon;

import io.modelcache.cache.ChunkDigests;
import io.modelcache.chunkindex.IndexStore;
import io.modelcache.error.ModelCacheException;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelIndexer;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.trust.TrustGate;
import io.modelcache.trust.TrustPolicy;
import io.modelcache.trust.TrustRule;
import io.modelcache.trust.TrustVerdict;
import java.io.IOException;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds a mounted model's chunk digest index and, if it is accepted for the model (it names the
 * manifest and its layer digests and lists every file where the manifest puts it), makes the mount
 * check every chunk against it. A missing, unreachable or rejected index never fails a mount: the
 * mount serves as a model without one and the daemon looks again later ({@link #RECHECK_SECONDS}).
 * Under a {@code require: sigstore} trust rule the index must be signed by a trusted key too.
 * Stateless; called under no lock of the cache.
 */
final class IndexLookup {
  private static final Logger LOG = LoggerFactory.getLogger(IndexLookup.class);
  /** How often mounts without an index look again for one pushed since. */
  static final long RECHECK_SECONDS = 60;

  private IndexLookup() {}

  /** The model's accepted index by path, or null (none, unreachable or rejected: logged unless quiet). */
  static Map<String, ChunkDigests> find(String mountpoint, ModelArtifact art, ArtifactSource source, TrustRule rule,
      boolean quiet) {
    try {
      IndexStore.Found f = IndexStore.find(source, art.manifest().digest());
      if (f == null) {
        if (!quiet) {
          LOG.info("{}: no chunk index for {}; serving chunks as they arrive, checked when their blob is whole",
              mountpoint, art.manifest().digest());
        }
        return null;
      }
      TrustVerdict trusted = TrustGate.admitIndex(source, f.artifact(), rule);
      if (!trusted.admitted()) {
        if (!quiet) {
          LOG.warn("{}: chunk index {} not used: not trusted: {}; serving chunks as they arrive, checked when their blob is whole",
              mountpoint, f.artifact(), trusted.reason());
        }
        return null;
      }
      Map<String, ChunkDigests> byPath = ModelIndexer.accept(f.index(), art);
      LOG.info("{}: chunk index {} accepted ({} files, {}-byte chunks, via {}); every chunk is checked before it is served",
          mountpoint, f.artifact(), byPath.size(), f.index().chunkSize(), f.via());
      return byPath;
    } catch (IOException | RuntimeException e) {
      LOG.warn("{}: chunk index not used: {}", mountpoint, e.getMessage());
      return null;
    }
  }

  /** For a mount served without an index: attaches one found since; returns whether it did. */
  static boolean attachLate(String mountpoint, ModelArtifact art, ArtifactSource source, TrustRule rule,
      ModelMount mount) {
    Map<String, ChunkDigests> byPath = find(mountpoint, art, source, rule, true);
    if (byPath == null) {
      return false;
    }
    mount.verifyWith(byPath);
    return true;
  }

  /** Mounts served without a chunk index look again, while {@code open}: one may have been pushed since. */
  static void recheck(Iterable<ActiveMount> mounts, TrustPolicy trust, BooleanSupplier open) {
    for (ActiveMount a : mounts) {
      if (open.getAsBoolean() && !a.model().verification().equals("chunks")) {
        TrustRule rule;
        try {
          rule = trust.ruleFor(Reference.parse(a.record().reference()));
        } catch (ModelCacheException e) {
          continue; // parsed when it was mounted; nothing to look again for
        }
        attachLate(a.record().mountpoint(), a.model().artifact(), a.source(), rule, a.model());
      }
    }
  }
}
