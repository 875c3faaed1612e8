package io.modelcache.source;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.Reference;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A registry reached through mirrors: each request goes to the mirrors in order, then to the
 * registry itself, as containerd does. Content is addressed by digest and verified by the caller, so a
 * mirror can make a pull faster but never change the bytes. A mirror that does not have the content
 * or cannot be reached is skipped; authentication failures and bad content are not retried
 * elsewhere, so they surface. An unreachable mirror is passed over for a while rather than paying
 * its connect retries on every chunk. Thread-safe if the sources are.
 */
public final class MirroredSource implements ArtifactSource {
  private static final Logger LOG = LoggerFactory.getLogger(MirroredSource.class);

  private final Reference reference;
  /** How long a mirror that could not be reached is passed over. */
  static final long BACKOFF_NANOS = 30_000_000_000L;

  private final List<ArtifactSource> sources; // mirrors first, the registry itself last
  private final long[] downUntil;
  private final java.util.function.LongSupplier nanoClock;

  public MirroredSource(Reference reference, List<ArtifactSource> mirrorsThenUpstream) {
    this(reference, mirrorsThenUpstream, System::nanoTime);
  }

  MirroredSource(Reference reference, List<ArtifactSource> mirrorsThenUpstream, java.util.function.LongSupplier nanoClock) {
    if (mirrorsThenUpstream.isEmpty()) {
      throw new IllegalArgumentException("no sources");
    }
    this.reference = reference;
    this.sources = List.copyOf(mirrorsThenUpstream);
    this.downUntil = new long[sources.size()];
    this.nanoClock = nanoClock;
  }

  interface Call<T> {
    T on(ArtifactSource s) throws IOException;
  }

  private <T> T first(Call<T> call) throws IOException {
    return first(call, 0);
  }

  /** As {@link #first(Call)}, starting at source {@code start} (then the ones after it, then the upstream). */
  private <T> T first(Call<T> call, int start) throws IOException {
    IOException last = null;
    for (int i = Math.min(start, sources.size() - 1); i < sources.size(); i++) {
      ArtifactSource s = sources.get(i);
      boolean upstream = i == sources.size() - 1;
      long now = nanoClock.getAsLong();
      synchronized (downUntil) {
        if (!upstream && downUntil[i] != 0 && now - downUntil[i] < 0) {
          continue;
        }
      }
      try {
        return call.on(s);
      } catch (ModelCacheException e) {
        if (upstream || !(e.kind() == ModelCacheException.Kind.NOT_FOUND || e.kind() == ModelCacheException.Kind.UNREACHABLE)) {
          throw e;
        }
        LOG.debug("mirror {} skipped: {}", s.reference(), e.getMessage());
        if (e.kind() == ModelCacheException.Kind.UNREACHABLE) {
          synchronized (downUntil) {
            downUntil[i] = nanoClock.getAsLong() + BACKOFF_NANOS;
          }
        }
        last = e;
      } catch (IOException e) {
        if (upstream) {
          throw e;
        }
        LOG.debug("mirror {} skipped: {}", s.reference(), e.toString());
        last = e;
      }
    }
    throw last; // unreachable: the upstream either answers or throws
  }

  @Override
  public Reference reference() {
    return reference;
  }

  @Override
  public FetchedManifest fetchManifest(String tagOrDigest) throws IOException {
    return first(s -> s.fetchManifest(tagOrDigest));
  }

  @Override
  public byte[] fetchBlob(Digest digest, long maxBytes) throws IOException {
    return first(s -> s.fetchBlob(digest, maxBytes));
  }

  @Override
  public InputStream openBlob(Digest digest, long offset, long length) throws IOException {
    return first(s -> s.openBlob(digest, offset, length));
  }

  /** Referrers come from the registry itself: a mirror's copy of the index may lag behind. */
  @Override
  public byte[] referrers(Digest subject) throws IOException {
    return sources.get(sources.size() - 1).referrers(subject);
  }

  /** A refetch of bytes that failed their check starts at the next mirror, and ends at the registry itself. */
  @Override
  public InputStream openBlob(Digest digest, long offset, long length, int attempt) throws IOException {
    return first(s -> s.openBlob(digest, offset, length), attempt);
  }

  @Override
  public void close() throws IOException {
    IOException first = null;
    for (ArtifactSource s : sources) {
      try {
        s.close();
      } catch (IOException e) {
        first = first == null ? e : first;
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
