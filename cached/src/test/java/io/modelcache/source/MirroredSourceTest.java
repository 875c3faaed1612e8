package io.modelcache.source;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.Reference;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class MirroredSourceTest {
  static final byte[] BLOB = {1, 2, 3};
  static final Digest D = Digest.of(BLOB);

  /** A fake store: answers, or fails with the given kind; counts calls. */
  static final class Fake implements ArtifactSource {
    final Kind failure;
    final AtomicInteger calls = new AtomicInteger();

    Fake(Kind failure) {
      this.failure = failure;
    }

    @Override
    public Reference reference() {
      return null;
    }

    private void maybeFail() throws ModelCacheException {
      calls.incrementAndGet();
      if (failure != null) {
        throw new ModelCacheException(failure, "fake " + failure);
      }
    }

    @Override
    public FetchedManifest fetchManifest(String tagOrDigest) throws IOException {
      maybeFail();
      return new FetchedManifest(BLOB, "x", D);
    }

    @Override
    public byte[] fetchBlob(Digest digest, long maxBytes) throws IOException {
      maybeFail();
      return BLOB;
    }

    @Override
    public InputStream openBlob(Digest digest, long offset, long length) throws IOException {
      maybeFail();
      return new ByteArrayInputStream(BLOB);
    }

    @Override
    public void close() {}
  }

  @Test
  void mirrorsFirstThenUpstream() throws Exception {
    Fake mirror = new Fake(null);
    Fake upstream = new Fake(null);
    MirroredSource s = new MirroredSource(null, List.of(mirror, upstream));
    assertArrayEquals(BLOB, s.fetchBlob(D, 10));
    assertEquals(1, mirror.calls.get());
    assertEquals(0, upstream.calls.get());
  }

  @Test
  void aRefetchOfBadBytesStartsAtTheNextMirrorAndEndsUpstream() throws Exception {
    Fake first = new Fake(null);
    Fake second = new Fake(null);
    Fake upstream = new Fake(null);
    MirroredSource s = new MirroredSource(null, List.of(first, second, upstream));
    s.openBlob(D, 0, 3, 0).close();
    s.openBlob(D, 0, 3, 1).close();
    s.openBlob(D, 0, 3, 2).close();
    s.openBlob(D, 0, 3, 7).close();
    assertEquals(List.of(1, 1, 2), List.of(first.calls.get(), second.calls.get(), upstream.calls.get()));
  }

  @Test
  void missingOrDownMirrorsFallThrough() throws Exception {
    Fake missing = new Fake(Kind.NOT_FOUND);
    Fake down = new Fake(Kind.UNREACHABLE);
    Fake upstream = new Fake(null);
    AtomicLong now = new AtomicLong();
    MirroredSource s = new MirroredSource(null, List.of(missing, down, upstream), now::get);
    assertArrayEquals(BLOB, s.openBlob(D, 0, -1).readAllBytes());
    assertArrayEquals(BLOB, s.openBlob(D, 0, -1).readAllBytes());
    assertEquals(2, missing.calls.get());
    assertEquals(1, down.calls.get(), "an unreachable mirror is passed over for a while");
    now.addAndGet(MirroredSource.BACKOFF_NANOS + 1);
    s.openBlob(D, 0, -1);
    assertEquals(2, down.calls.get(), "and tried again after the back-off");
  }

  @Test
  void authFailuresAtAMirrorSurface() {
    MirroredSource s = new MirroredSource(null, List.of(new Fake(Kind.AUTH), new Fake(null)));
    assertEquals(Kind.AUTH, assertThrows(ModelCacheException.class, () -> s.fetchManifest("v1")).kind());
  }

  @Test
  void upstreamErrorsAreTheAnswer() {
    MirroredSource s = new MirroredSource(null, List.of(new Fake(Kind.NOT_FOUND), new Fake(Kind.NOT_FOUND)));
    assertEquals("fake NOT_FOUND", assertThrows(ModelCacheException.class, () -> s.fetchManifest("v1")).getMessage());
  }
}
