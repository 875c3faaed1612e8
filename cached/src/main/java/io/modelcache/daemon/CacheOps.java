package io.modelcache.daemon;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.cache.CachedBlobInfo;
import io.modelcache.cache.ChunkCache;
import io.modelcache.cache.VerifyResult;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.modelpack.ModelArtifact;
import io.modelcache.modelpack.ModelFile;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.mount.ModelMount;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Reference;
import io.modelcache.source.Artifacts;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * {@code modelcache cache ls|verify|evict|gc} in the daemon: the cache's blobs joined with what the
 * daemon knows uses them (mounts, running warms). Whether a blob may go is decided from that
 * snapshot, and the cache itself refuses to evict a blob with an open handle, so a mount that opens a
 * blob meanwhile keeps it. Thread-safe.
 */
final class CacheOps {
  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  private final DaemonConfig config;
  private final ChunkCache cache;
  private final Supplier<List<ActiveMount>> mounts;
  private final Supplier<Map<String, Set<String>>> usersOf;

  /** @param usersOf cache key to the models using it ("reference at mountpoint", "warming reference") */
  CacheOps(DaemonConfig config, ChunkCache cache, Supplier<List<ActiveMount>> mounts,
      Supplier<Map<String, Set<String>>> usersOf) {
    this.config = config;
    this.cache = cache;
    this.mounts = mounts;
    this.usersOf = usersOf;
  }

  private Map<String, Set<String>> users() {
    return usersOf.get();
  }

  ObjectNode list() {
    Map<String, Set<String>> users = users();
    ObjectNode out = JSON.objectNode();
    ArrayNode arr = out.putArray("blobs");
    for (CachedBlobInfo b : cache.list()) {
      ObjectNode o = blobJson(b);
      arr.add(o);
      ArrayNode models = o.putArray("models");
      for (String u : users.getOrDefault(b.key(), Set.of())) {
        models.add(u);
      }
    }
    out.put("usedBytes", cache.usedBytes()).put("budgetBytes", cache.budgetBytes());
    return out;
  }

  private ObjectNode blobJson(CachedBlobInfo b) {
    return JSON.objectNode()
        .put("key", b.key())
        .put("digest", b.digest().toString())
        .put("encoding", b.encoding().name())
        .put("sizeBytes", b.contentLength())
        .put("cachedBytes", b.cachedBytes())
        .put("state", b.state().name())
        .put("openHandles", b.openHandles());
  }

  /**
   * Verifies every cached blob, or those of one model. A blob fails when its digest does not match,
   * or when chunks that were cached failed their checksum and were dropped (local damage); a blob
   * that is simply not fully cached yet passes with its cached chunks checked.
   */
  ObjectNode verify(String refText) throws IOException {
    Map<String, CachedBlobInfo> before = new LinkedHashMap<>();
    for (CachedBlobInfo b : cache.list()) {
      before.put(b.key(), b);
    }
    List<String> keys = refText.isEmpty() ? new ArrayList<>(before.keySet()) : keysOf(refText);
    ObjectNode out = JSON.objectNode();
    ArrayNode arr = out.putArray("blobs");
    int failed = 0;
    for (String key : keys) {
      CachedBlobInfo info = before.get(key);
      if (info == null) {
        continue;
      }
      VerifyResult r;
      try {
        r = cache.verify(key);
      } catch (ModelCacheException e) {
        if (e.kind() == Kind.NOT_FOUND) {
          continue; // evicted meanwhile
        }
        throw e;
      }
      long after = cachedBytesOf(key);
      // Damage is a failure even when its chunks are back already (fetched at once for a file in use).
      boolean damaged = r.damagedChunks() > 0
          || (r.status() == VerifyResult.Status.INCOMPLETE && after < info.cachedBytes());
      boolean ok = !damaged && (r.ok() || r.status() == VerifyResult.Status.INCOMPLETE);
      if (!ok) {
        failed++;
      }
      arr.addObject()
          .put("key", key)
          .put("digest", info.digest().toString())
          .put("status", r.status().name())
          .put("ok", ok)
          .put("damagedChunks", r.damagedChunks())
          .put("detail", r.detail());
    }
    out.put("verified", arr.size()).put("failed", failed);
    return out;
  }

  private long cachedBytesOf(String key) {
    for (CachedBlobInfo b : cache.list()) {
      if (b.key().equals(key)) {
        return b.cachedBytes();
      }
    }
    return 0;
  }

  /** The cache keys of a model: from its mount when mounted, else resolved from its source. */
  private List<String> keysOf(String refText) throws IOException {
    for (ActiveMount a : mounts.get()) {
      if (a.record().reference().equals(refText)) {
        List<String> keys = new ArrayList<>();
        for (ModelMount.MountedFile f : a.model().files().values()) {
          keys.add(f.handle().spec().key());
        }
        return keys;
      }
    }
    Reference ref = Reference.parse(refText);
    try (ArtifactSource source = Artifacts.openSource(ref, config.registryOptions(), config.settings().registries())) {
      ModelArtifact art = ModelReader.read(source, ref.tagOrDigest());
      List<String> keys = new ArrayList<>();
      for (ModelFile f : art.files()) {
        keys.add(ModelMount.specOf(f).key());
      }
      return keys;
    }
  }

  /**
   * Evicts a model's blobs: REF is a model reference (resolved through its registry when not
   * mounted), or a blob digest or cache key as {@code cache ls} shows it. Refused while the model is
   * mounted; blobs another mount shares are kept.
   */
  ObjectNode evict(String refText) throws IOException {
    if (refText.isEmpty()) {
      throw new ModelCacheException(Kind.USAGE, "cache evict needs a model reference or blob digest");
    }
    Map<String, Set<String>> users = users();
    List<String> keys = blobKeys(refText);
    if (keys.isEmpty()) {
      for (ActiveMount a : mounts.get()) {
        if (a.record().reference().equals(refText)) {
          throw mounted(refText, a);
        }
      }
      Reference ref = Reference.parse(refText);
      List<String> resolved;
      String digest;
      try (ArtifactSource source = Artifacts.openSource(ref, config.registryOptions(), config.settings().registries())) {
        ModelArtifact art = ModelReader.read(source, ref.tagOrDigest());
        digest = art.manifest().digest().toString();
        resolved = new ArrayList<>();
        for (ModelFile f : art.files()) {
          resolved.add(ModelMount.specOf(f).key());
        }
      }
      for (ActiveMount a : mounts.get()) {
        if (digest.equals(a.record().digest())) {
          throw mounted(refText, a);
        }
      }
      keys = resolved;
    }
    Map<String, CachedBlobInfo> cached = new HashMap<>();
    for (CachedBlobInfo b : cache.list()) {
      cached.put(b.key(), b);
    }
    ObjectNode out = JSON.objectNode().put("reference", refText);
    ArrayNode evicted = out.putArray("evicted");
    ArrayNode kept = out.putArray("kept");
    long freed = 0;
    for (String key : new LinkedHashSet<>(keys)) {
      CachedBlobInfo b = cached.get(key);
      if (b == null) {
        continue;
      }
      Set<String> u = users.get(key);
      if (u != null && !u.isEmpty()) {
        kept.add(blobJson(b).put("reason", "in use by " + String.join(", ", u)));
        continue;
      }
      try {
        cache.evict(key);
        evicted.add(blobJson(b));
        freed += b.cachedBytes();
      } catch (ModelCacheException e) {
        if (e.kind() != Kind.NOT_FOUND) {
          kept.add(blobJson(b).put("reason", e.getMessage()));
        }
      }
    }
    out.put("freedBytes", freed);
    return out;
  }

  private static ModelCacheException mounted(String refText, ActiveMount a) {
    return new ModelCacheException(Kind.USAGE,
        "cannot evict " + refText + ": it is mounted at " + a.record().mountpoint() + " (unmount it first)");
  }

  /**
   * The cache keys {@code text} names when it is a blob digest: whole ({@code sha256:<64 hex>}, with
   * or without the prefix) or shortened to at least 12 hex digits as {@code cache ls} prints it, with
   * the {@code +N} (or {@code -N}) of a tar member's key when given. Empty when {@code text} is not
   * digest-shaped (then it is a reference); a digest-shaped text that matches nothing is NOT_FOUND,
   * one that matches blobs of two digests a usage error.
   */
  private static final java.util.regex.Pattern BLOB_NAME =
      java.util.regex.Pattern.compile("([0-9a-f]{12,64})(?:[+-](\\d+))?");

  private List<String> blobKeys(String text) throws ModelCacheException {
    boolean prefixed = text.startsWith("sha256:");
    String body = prefixed ? text.substring("sha256:".length()) : text;
    java.util.regex.Matcher m = BLOB_NAME.matcher(body);
    if (!m.matches() || (!prefixed && m.group(1).length() < 64)) {
      return List.of(); // a bare short hex string could be a layout path or a host; only sha256: shortens
    }
    String hex = m.group(1);
    String member = m.group(2);
    List<String> out = new ArrayList<>();
    Set<String> digests = new java.util.TreeSet<>();
    for (CachedBlobInfo b : cache.list()) {
      if (b.digest().hex().startsWith(hex) && (member == null || b.key().endsWith("-" + member))) {
        out.add(b.key());
        digests.add(b.digest().hex());
      }
    }
    if (out.isEmpty()) {
      throw new ModelCacheException(Kind.NOT_FOUND, "no cached blob matches " + text + " (see 'modelcache cache ls')");
    }
    if (digests.size() > 1) {
      throw new ModelCacheException(Kind.USAGE, text + " matches " + digests.size() + " cached blobs; give more of its digest");
    }
    return out;
  }

  /** Evicts every blob that no mount (and no running warm) uses. */
  ObjectNode gc() throws IOException {
    Map<String, Set<String>> users = users();
    ObjectNode out = JSON.objectNode();
    ArrayNode evicted = out.putArray("evicted");
    long freed = 0;
    int kept = 0;
    for (CachedBlobInfo b : cache.list()) {
      if (users.containsKey(b.key()) || b.openHandles() > 0) {
        kept++;
        continue;
      }
      try {
        cache.evict(b.key());
        evicted.add(blobJson(b));
        freed += b.cachedBytes();
      } catch (ModelCacheException e) {
        kept++; // opened meanwhile, or already gone
      }
    }
    out.put("freedBytes", freed).put("kept", kept);
    return out;
  }
}
