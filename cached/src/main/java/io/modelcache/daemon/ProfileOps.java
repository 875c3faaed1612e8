package io.modelcache.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.fetch.AccessProfile;
import io.modelcache.fetch.MountPrefetcher;
import io.modelcache.modelpack.ModelReader;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.Reference;
import io.modelcache.source.Artifacts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * {@code modelcache profile export|import|ls} in the daemon: learned access profiles in
 * {@code <home>/profiles}, and the profile a live mount has learned so far. The profile travels as
 * its text file format inside the JSON reply, so the CLI writes and reads files with the user's
 * permissions and the daemon alone writes its home. Thread-safe: it sees mounts through a snapshot
 * and profile files are replaced atomically.
 */
final class ProfileOps {
  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  private final DaemonConfig config;
  private final Supplier<List<ActiveMount>> mounts;

  ProfileOps(DaemonConfig config, Supplier<List<ActiveMount>> mounts) {
    this.config = config;
    this.mounts = mounts;
  }

  private Path dir() {
    return config.home().resolve("profiles");
  }

  ObjectNode handle(String op, JsonNode req) throws IOException {
    return switch (op) {
      case "profile-export" -> export(req.path("target").asText(""), req.hasNonNull("dir") ? req.get("dir").asText() : null);
      case "profile-import" -> install(req.path("name").asText("profile"), req.path("profile").asText(""));
      case "profile-ls" -> list();
      default -> throw new ModelCacheException(Kind.USAGE, "unknown control operation '" + op + "'");
    };
  }

  /**
   * What an export names: a live mount (by mountpoint), a manifest digest, or a reference whose
   * digest the registry must resolve. Exactly one is set.
   */
  record Target(String mountpoint, Digest digest, Reference reference) {}

  /**
   * Resolves an export target without the network. {@code dir} is the target as an absolute path
   * when it names an existing directory (the CLI checks). A mount's reference as it was mounted wins
   * over resolving it again, so a moved tag still exports what is mounted.
   */
  static Target resolve(String target, String dir, List<MountRecord> mounts) throws ModelCacheException {
    if (target.isBlank()) {
      throw new ModelCacheException(Kind.USAGE, "profile export needs a model reference, mountpoint or manifest digest");
    }
    for (MountRecord m : mounts) {
      if (dir != null && m.mountpoint().equals(dir)) {
        return new Target(m.mountpoint(), null, null);
      }
    }
    for (MountRecord m : mounts) {
      if (m.reference().equals(target)) {
        return new Target(m.mountpoint(), null, null);
      }
    }
    String hex = target.startsWith("sha256:") ? target.substring("sha256:".length()) : target;
    if (hex.matches("[0-9a-f]{64}")) {
      return new Target(null, new Digest(hex), null);
    }
    if (target.startsWith("sha256:")) {
      throw new ModelCacheException(Kind.USAGE, "invalid digest '" + target + "' (expected sha256:<64 hex>)");
    }
    Reference ref;
    try {
      ref = Reference.parse(target);
    } catch (ModelCacheException e) {
      if (dir != null || target.startsWith("/") || target.startsWith(".")) {
        throw new ModelCacheException(Kind.USAGE, (dir != null ? dir : target) + " is not a ModelCache mount");
      }
      throw e;
    }
    return ref.digest() != null ? new Target(null, ref.digest(), null) : new Target(null, null, ref);
  }

  private ObjectNode export(String target, String dir) throws IOException {
    List<ActiveMount> live = mounts.get();
    Target t = resolve(target, dir, live.stream().map(ActiveMount::record).toList());
    if (t.mountpoint() != null) {
      ActiveMount a = live.stream().filter(m -> m.record().mountpoint().equals(t.mountpoint())).findFirst().orElseThrow();
      AccessProfile p = liveProfile(a);
      if (p != null) {
        return reply(p, "mount", a.record().mountpoint());
      }
      Digest d = Digest.parse(a.record().digest());
      Path saved = AccessProfile.pathFor(dir(), d);
      if (Files.exists(saved)) {
        return reply(AccessProfile.read(saved), "saved", null);
      }
      throw ModelCacheException.notFound("no access profile for " + a.record().reference() + " at "
          + a.record().mountpoint() + " yet: nothing has been read through the mount");
    }
    Digest d = t.digest() != null ? t.digest() : resolveDigest(t.reference());
    Path saved = AccessProfile.pathFor(dir(), d);
    if (Files.exists(saved)) {
      return reply(AccessProfile.read(saved), "saved", null);
    }
    for (ActiveMount a : live) {
      if (d.toString().equals(a.record().digest())) {
        AccessProfile p = liveProfile(a);
        if (p != null) {
          return reply(p, "mount", a.record().mountpoint());
        }
      }
    }
    String what = t.digest() != null ? d.toString() : target + " (" + d + ")";
    throw ModelCacheException.notFound("no access profile for " + what
        + ": mount it and read from it first, or import one");
  }

  private static AccessProfile liveProfile(ActiveMount a) {
    MountPrefetcher pf = a.model().prefetcher();
    AccessProfile p = pf == null ? null : pf.profile();
    return p == null || p.entries().isEmpty() ? null : p;
  }

  /** The manifest digest a reference names now, as a mount of it would pin. */
  private Digest resolveDigest(Reference ref) throws IOException {
    try (ArtifactSource source = Artifacts.openSource(ref, config.registryOptions(), config.settings().registries())) {
      return ModelReader.read(source, ref.tagOrDigest()).manifest().digest();
    }
  }

  private ObjectNode reply(AccessProfile p, String source, String mountpoint) {
    ObjectNode out = describe(p).put("source", source);
    if (mountpoint != null) {
      out.put("mountpoint", mountpoint);
    }
    return out.put("profile", p.toText());
  }

  private static ObjectNode describe(AccessProfile p) {
    return JSON.objectNode()
        .put("digest", p.manifest().toString())
        .put("entries", p.entries().size())
        .put("chunkSize", p.chunkSize())
        .put("coveredBytes", p.coveredBytes());
  }

  /** Validates a profile's text and installs it for its manifest digest; the next mount replays it. */
  private ObjectNode install(String name, String text) throws IOException {
    AccessProfile p = AccessProfile.parse(name, text);
    Path f = AccessProfile.pathFor(dir(), p.manifest());
    boolean replaced = Files.exists(f);
    try {
      p.write(f);
    } catch (IOException e) {
      throw new ModelCacheException(Kind.IO, "cannot install the access profile in " + dir() + ": " + e.getMessage());
    }
    ObjectNode out = describe(p).put("path", f.toString()).put("replaced", replaced);
    ArrayNode at = out.putArray("mountedAt");
    for (ActiveMount a : mounts.get()) {
      if (p.manifest().toString().equals(a.record().digest())) {
        at.add(a.record().mountpoint());
      }
    }
    return out;
  }

  /** Every saved profile; a file that does not parse is listed with its error, not fatal. */
  private ObjectNode list() throws IOException {
    ObjectNode out = JSON.objectNode().put("dir", dir().toString());
    ArrayNode arr = out.putArray("profiles");
    if (!Files.isDirectory(dir())) {
      return out;
    }
    List<Path> files;
    try (Stream<Path> s = Files.list(dir())) {
      files = s.filter(f -> f.getFileName().toString().endsWith(".profile")).sorted().toList();
    }
    List<ActiveMount> live = mounts.get();
    for (Path f : files) {
      long size;
      try {
        size = Files.size(f);
      } catch (IOException e) {
        continue; // removed meanwhile
      }
      ObjectNode o;
      try {
        AccessProfile p = AccessProfile.read(f);
        o = describe(p);
        ArrayNode at = o.putArray("mountedAt");
        for (ActiveMount a : live) {
          if (p.manifest().toString().equals(a.record().digest())) {
            at.add(a.record().mountpoint());
          }
        }
      } catch (ModelCacheException e) {
        o = JSON.objectNode().put("error", e.getMessage());
      }
      arr.add(o.put("file", f.toString()).put("sizeBytes", size));
    }
    return out;
  }
}
