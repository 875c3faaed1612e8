package io.modelcache.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import io.modelcache.oci.ArtifactSink;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import io.modelcache.oci.FetchedManifest;
import io.modelcache.oci.MediaTypes;
import io.modelcache.oci.Reference;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OCI distribution client for one repository: pulls manifests and blobs (with Range), pushes blobs
 * (monolithic or chunked) and manifests. Handles Basic and Bearer auth, redirects (Authorization only
 * to the same origin), and retries with capped exponential backoff. Thread-safe.
 */
public final class RegistryClient implements ArtifactSource, ArtifactSink {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryClient.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Manifests are small; Distribution itself caps them at 4 MiB. */
  static final long MAX_MANIFEST_BYTES = 8L << 20;

  private enum Access {
    PULL,
    PUSH,
    LOGIN
  }

  private final Reference ref;
  private final String host;
  private final String repo;
  private final URI base;
  private final RegistryOptions opts;
  private final HttpTransport http;
  /** Where {@link #creds} came from, asked again on a 401/403; null for credentials given explicitly. */
  private final CredentialSource source;
  private volatile Credentials creds;
  private final BearerTokens tokens;
  private volatile AuthChallenge bearer;
  private volatile boolean basicMode;

  /** The docker config (and its credential helpers) read again on each call. */
  @FunctionalInterface
  interface CredentialSource {
    Credentials read() throws IOException;
  }

  private RegistryClient(Reference ref, String host, String repo, RegistryOptions opts, Credentials creds,
      CredentialSource source) {
    this.ref = ref;
    this.host = host;
    this.repo = repo;
    this.opts = opts;
    this.creds = creds;
    this.source = source;
    boolean plain = opts.plainHttp() != null ? opts.plainHttp() : isLoopback(host);
    this.base = URI.create((plain ? "http://" : "https://") + host + "/");
    this.http = new HttpTransport(opts, host);
    this.tokens = new BearerTokens(opts.clock());
  }

  /** A client for {@code ref}'s repository, with credentials from the docker config, if any. */
  public static RegistryClient open(Reference ref, RegistryOptions options) throws IOException {
    if (ref.isLayout()) {
      throw new IllegalArgumentException("not a registry reference: " + ref);
    }
    CredentialSource src = () -> DockerConfig.load(options.dockerConfigPath()).lookup(ref.registry()).orElse(null);
    return new RegistryClient(ref, ref.registry(), ref.repository(), options, src.read(), src);
  }

  /** With credentials {@code c} read from {@code source}, which is read again when the registry refuses them. */
  static RegistryClient open(Reference ref, RegistryOptions options, Credentials c, CredentialSource source) {
    return new RegistryClient(ref, ref.registry(), ref.repository(), options, c, source);
  }

  /** As {@link #open} but with explicit credentials (null: anonymous). */
  public static RegistryClient open(Reference ref, RegistryOptions options, Credentials credentials) {
    return new RegistryClient(ref, ref.registry(), ref.repository(), options, credentials, null);
  }

  /**
   * GETs {@code /v2/} of {@code host} with {@code c} (Basic, or the Bearer flow) and fails with AUTH when
   * the registry refuses them.
   */
  public static void verifyLogin(String host, Credentials c, RegistryOptions o) throws IOException {
    try (RegistryClient client = new RegistryClient(null, host, null, o, c, null)) {
      client.retrying(() -> {
        try (HttpReply r = client.call(HttpCall.of("GET", client.base.resolve("/v2/")), Access.LOGIN)) {
          if (r.status() == 200) {
            return null;
          }
          throw client.unexpected(r, "GET /v2/");
        }
      });
    }
  }

  static boolean isLoopback(String host) {
    return new Reference(host, "x", null, "latest", null).isLoopbackRegistry();
  }

  @Override
  public Reference reference() {
    return ref;
  }

  String where() {
    return host + "/" + repo;
  }

  RegistryOptions options() {
    return opts;
  }

  private URI url(String tail) {
    return base.resolve("/v2/" + repo + "/" + tail);
  }

  // ---------------------------------------------------------------- pull

  @Override
  public FetchedManifest fetchManifest(String tagOrDigest) throws IOException {
    HttpCall c = HttpCall.of("GET", url("manifests/" + tagOrDigest)).header("Accept", MediaTypes.MANIFEST_ACCEPT);
    return retrying(() -> {
      try (HttpReply r = call(c, Access.PULL)) {
        if (r.status() == 404) {
          throw ModelCacheException.notFound(where() + ": manifest '" + tagOrDigest + "' not found");
        }
        if (r.status() != 200) {
          throw unexpected(r, "manifest '" + tagOrDigest + "'");
        }
        byte[] bytes = r.readAll(MAX_MANIFEST_BYTES, () -> ModelCacheException.invalid(
            where() + ": manifest '" + tagOrDigest + "' is larger than " + MAX_MANIFEST_BYTES + " bytes"));
        Digest got = Digest.of(bytes);
        if (Digest.isValid(tagOrDigest) && !got.toString().equals(tagOrDigest)) {
          throw ModelCacheException.digestMismatch(
              where() + ": manifest " + tagOrDigest + " failed verification (got " + got + ")");
        }
        return new FetchedManifest(bytes, mediaType(r.header("Content-Type"), bytes), got);
      }
    });
  }

  /**
   * {@code GET /v2/<name>/referrers/<digest>}: the referrers index, or null when the registry has no
   * referrers API (404, as Debian's docker-registry 2.8 answers) or answers with something other than an index.
   */
  @Override
  public byte[] referrers(Digest subject) throws IOException {
    HttpCall c = HttpCall.of("GET", url("referrers/" + subject)).header("Accept", MediaTypes.OCI_INDEX);
    return retrying(() -> {
      try (HttpReply r = call(c, Access.PULL)) {
        if (r.status() != 200) {
          r.discard();
          return null;
        }
        byte[] bytes = r.readAll(MAX_MANIFEST_BYTES, () -> ModelCacheException.invalid(
            where() + ": referrers of " + subject + " larger than " + MAX_MANIFEST_BYTES + " bytes"));
        return MediaTypes.OCI_INDEX.equals(mediaType(r.header("Content-Type"), bytes)) ? bytes : null;
      }
    });
  }

  /** Media type, digest and size of a manifest without downloading it (NOT_FOUND when unknown). */
  public Descriptor headManifest(String tagOrDigest) throws IOException {
    HttpCall c = HttpCall.of("HEAD", url("manifests/" + tagOrDigest)).header("Accept", MediaTypes.MANIFEST_ACCEPT);
    Descriptor d = retrying(() -> {
      try (HttpReply r = call(c, Access.PULL)) {
        if (r.status() == 404) {
          throw ModelCacheException.notFound(where() + ": manifest '" + tagOrDigest + "' not found");
        }
        if (r.status() != 200) {
          throw unexpected(r, "manifest '" + tagOrDigest + "'");
        }
        String dig = r.header("Docker-Content-Digest");
        if (dig == null || !Digest.isValid(dig) || r.contentLength() < 0) {
          return null;
        }
        return new Descriptor(mediaType(r.header("Content-Type"), null), Digest.parse(dig), r.contentLength());
      }
    });
    if (d != null) {
      return d;
    }
    FetchedManifest m = fetchManifest(tagOrDigest);
    return new Descriptor(m.mediaType(), m.digest(), m.bytes().length);
  }

  private static String mediaType(String contentType, byte[] body) {
    String ct = contentType == null ? "" : contentType;
    int semi = ct.indexOf(';');
    if (semi >= 0) {
      ct = ct.substring(0, semi);
    }
    ct = ct.trim();
    if ((ct.isEmpty() || ct.equals("application/json") || ct.equals("text/plain")) && body != null) {
      try {
        String mt = JSON.readTree(body).path("mediaType").asText("");
        if (!mt.isEmpty()) {
          return mt;
        }
      } catch (IOException notJson) {
        // keep the header's value
      }
    }
    return ct;
  }

  @Override
  public byte[] fetchBlob(Digest digest, long maxBytes) throws IOException {
    HttpCall c = HttpCall.of("GET", url("blobs/" + digest));
    return retrying(() -> {
      try (HttpReply r = call(c, Access.PULL)) {
        if (r.status() == 404) {
          throw blobNotFound(digest);
        }
        if (r.status() != 200) {
          throw unexpected(r, "blob " + digest);
        }
        byte[] bytes = r.readAll(maxBytes, () -> ModelCacheException.invalid(
            where() + ": blob " + digest + " is larger than " + maxBytes + " bytes"));
        Digest got = Digest.of(bytes);
        if (!got.equals(digest)) {
          throw ModelCacheException.digestMismatch(
              where() + ": blob " + digest + " failed verification (got " + got + ")");
        }
        return bytes;
      }
    });
  }

  @Override
  public InputStream openBlob(Digest digest, long offset, long length) throws IOException {
    if (offset < 0) {
      throw new IllegalArgumentException("negative offset");
    }
    if (length == 0) {
      return InputStream.nullInputStream();
    }
    HttpCall plain = HttpCall.of("GET", url("blobs/" + digest));
    HttpCall c = HttpRanges.isWhole(offset, length) ? plain : plain.header("Range", HttpRanges.rangeHeader(offset, length));
    return retrying(() -> {
      HttpReply r = call(c, Access.PULL);
      boolean handedOver = false;
      try {
        InputStream s;
        if (r.status() == 206) {
          long start = HttpRanges.contentRangeStart(r.header("Content-Range")).orElse(-1);
          if (start != offset) {
            throw new ModelCacheException(Kind.IO, where() + ": blob " + digest + ": registry sent range starting at "
                + start + " instead of " + offset);
          }
          s = new BlobStream(digest, r, 0, length);
        } else if (r.status() == 200) {
          s = new BlobStream(digest, r, offset, length);
        } else if (r.status() == 404) {
          throw blobNotFound(digest);
        } else if (r.status() == 416) {
          throw new ModelCacheException(Kind.IO,
              where() + ": blob " + digest + " has no bytes at offset " + offset + " (416 Range Not Satisfiable)");
        } else {
          throw unexpected(r, "blob " + digest);
        }
        handedOver = true;
        return s;
      } finally {
        if (!handedOver) {
          r.close();
        }
      }
    });
  }

  private ModelCacheException blobNotFound(Digest d) {
    return ModelCacheException.notFound(where() + ": blob " + d + " not found");
  }

  /** The body of a blob response, skipping {@code skip} bytes and ending after {@code limit} (-1: all). */
  private final class BlobStream extends InputStream implements java.nio.channels.ReadableByteChannel {
    private final Digest digest;
    private final HttpReply reply;
    private final InputStream in;
    private long toSkip;
    private final long limit;
    private long delivered;

    BlobStream(Digest digest, HttpReply reply, long skip, long limit) {
      this.digest = digest;
      this.reply = reply;
      this.in = reply.body();
      this.toSkip = skip;
      this.limit = limit;
    }

    private void skipPrefix() throws IOException {
      while (toSkip > 0) {
        long k = in.skip(toSkip);
        if (k <= 0) {
          throw new IOException(where() + ": blob " + digest + " ended before the requested offset");
        }
        toSkip -= k;
      }
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    /** One upstream read of at most {@code want} bytes, into whatever the caller reads into. */
    private interface Step {
      int read(int want) throws IOException;
    }

    /** One read of at most {@code max} bytes through {@code step}, under the range's skip and limit. */
    private int bounded(int max, Step step) throws IOException {
      try {
        skipPrefix();
        if (limit >= 0 && delivered >= limit) {
          return -1;
        }
        int want = limit >= 0 ? (int) Math.min(max, limit - delivered) : max;
        int n = step.read(want);
        if (n < 0) {
          if (limit >= 0) {
            throw new IOException(where() + ": blob " + digest + " ended after " + delivered + " of " + limit + " bytes");
          }
          return -1;
        }
        delivered += n;
        return n;
      } catch (TransportException e) {
        throw new IOException(where() + ": blob " + digest + " read failed (" + e.shortCause() + ")", e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      return len == 0 ? 0 : bounded(len, want -> in.read(b, off, want));
    }

    /** Straight into {@code dst} (one copy out of Netty's buffers) when the body is a channel. */
    @Override
    public int read(java.nio.ByteBuffer dst) throws IOException {
      if (!dst.hasRemaining()) {
        return 0;
      }
      if (!(in instanceof java.nio.channels.ReadableByteChannel ch)) {
        byte[] tmp = new byte[Math.min(dst.remaining(), 64 << 10)];
        int n = read(tmp, 0, tmp.length);
        if (n > 0) {
          dst.put(tmp, 0, n);
        }
        return n;
      }
      return bounded(dst.remaining(), want -> {
        int lim = dst.limit();
        dst.limit(dst.position() + want);
        try {
          return ch.read(dst);
        } finally {
          dst.limit(lim);
        }
      });
    }

    @Override
    public boolean isOpen() {
      return true;
    }

    @Override
    public void close() {
      reply.close();
    }
  }

  // ---------------------------------------------------------------- push

  @Override
  public boolean hasBlob(Digest digest) throws IOException {
    HttpCall c = HttpCall.of("HEAD", url("blobs/" + digest));
    return retrying(() -> {
      try (HttpReply r = call(c, Access.PUSH)) {
        if (r.status() == 200) {
          return true;
        }
        if (r.status() == 404) {
          return false;
        }
        throw unexpected(r, "blob " + digest);
      }
    });
  }

  @Override
  public void putBlob(Digest digest, long size, BlobBody body) throws IOException {
    if (hasBlob(digest)) {
      LOG.debug("{}: blob {} already present", where(), digest.shortHex());
      return;
    }
    if (size < opts.monolithicUploadLimit()) {
      retrying(() -> {
        putMonolithic(digest, size, body);
        return null;
      });
    } else {
      retrying(() -> {
        putChunked(digest, size, body);
        return null;
      });
    }
  }

  /** Blobs that would go in PATCH chunks stream instead: read once, hashed on the way. */
  @Override
  public boolean streamsUploads(long size) {
    return size >= opts.monolithicUploadLimit();
  }

  @Override
  public Digest putStreamed(long size, SeekableBody body, Tee tee) throws IOException {
    return new StreamedUpload(this, size, body, tee).run();
  }

  /**
   * Asks the registry to mount {@code digest} from {@code fromRepository} (same registry) without
   * uploading it. Returns false when the registry declined (the caller then uploads as usual).
   */
  public boolean mountBlob(Digest digest, String fromRepository) throws IOException {
    HttpCall post = HttpCall.of("POST",
        url("blobs/uploads/?mount=" + enc(digest.toString()) + "&from=" + enc(fromRepository)));
    return retrying(() -> {
      URI abandoned;
      try (HttpReply r = call(post, Access.PUSH)) {
        if (r.status() == 201) {
          return true;
        }
        if (r.status() != 202) {
          throw unexpected(r, "mount of blob " + digest + " from " + fromRepository);
        }
        abandoned = location(r, digest);
      }
      // The registry opened an ordinary upload session instead; cancel it (best effort).
      try (HttpReply r = call(HttpCall.of("DELETE", abandoned), Access.PUSH)) {
        r.discard();
      } catch (IOException ignored) {
        // Distribution purges abandoned uploads itself.
      }
      return false;
    });
  }

  private URI startUpload(Digest digest) throws IOException {
    try (HttpReply r = call(HttpCall.of("POST", url("blobs/uploads/")), Access.PUSH)) {
      if (r.status() != 202) {
        throw unexpected(r, "upload of blob " + digest);
      }
      return location(r, digest);
    }
  }

  private URI location(HttpReply r, Digest digest) throws IOException {
    String loc = r.header("Location");
    if (loc == null) {
      throw new ModelCacheException(Kind.IO, where() + ": upload of blob " + digest + ": no Location in response");
    }
    return RedirectPolicy.resolve(r.uri(), loc);
  }

  static URI withQuery(URI u, String param) {
    String s = u.toString();
    return URI.create(s + (u.getRawQuery() == null ? "?" : "&") + param);
  }

  private void putMonolithic(Digest digest, long size, BlobBody body) throws IOException {
    URI loc = startUpload(digest);
    MessageDigest[] md = new MessageDigest[1];
    HttpCall.Body b = new HttpCall.Body() {
      @Override
      public long length() {
        return size;
      }

      @Override
      public InputStream open() throws IOException {
        md[0] = Digest.sha256();
        return new DigestInputStream(body.open(), md[0]);
      }
    };
    HttpCall put = HttpCall.of("PUT", withQuery(loc, "digest=" + enc(digest.toString())))
        .header("Content-Type", "application/octet-stream").withBody(b);
    try (HttpReply r = call(put, Access.PUSH)) {
      checkSent(digest, md[0]);
      if (r.status() != 201) {
        throw unexpected(r, "upload of blob " + digest);
      }
    }
  }

  private void putChunked(Digest digest, long size, BlobBody body) throws IOException {
    URI loc = startUpload(digest);
    MessageDigest md = Digest.sha256();
    try (InputStream in = new DigestInputStream(body.open(), md)) {
      long off = 0;
      while (off < size) {
        long n = Math.min(opts.uploadChunkSize(), size - off);
        HttpCall patch = HttpCall.of("PATCH", loc)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", HttpRanges.uploadContentRange(off, n))
            .withBody(new OneShotSlice(in, n));
        try (HttpReply r = call(patch, Access.PUSH)) {
          if (r.status() != 202) {
            throw unexpected(r, "upload of blob " + digest);
          }
          loc = location(r, digest);
        }
        off += n;
      }
      if (in.read() >= 0) {
        throw new ModelCacheException(Kind.IO, where() + ": blob " + digest + " is longer than its size " + size);
      }
    }
    checkSent(digest, md);
    try (HttpReply r = call(HttpCall.of("PUT", withQuery(loc, "digest=" + enc(digest.toString()))), Access.PUSH)) {
      if (r.status() != 201) {
        throw unexpected(r, "upload of blob " + digest);
      }
    }
  }

  private void checkSent(Digest digest, MessageDigest md) throws ModelCacheException {
    if (md == null) {
      return;
    }
    Digest got = Digest.of(md);
    if (!got.equals(digest)) {
      throw ModelCacheException.digestMismatch(where() + ": blob " + digest + " failed verification (got " + got + ")");
    }
  }

  /** The next {@code n} bytes of a shared stream, sendable once (a replay restarts the whole upload). */
  private static final class OneShotSlice implements HttpCall.Body {
    private final InputStream in;
    private final long n;
    private boolean opened;

    OneShotSlice(InputStream in, long n) {
      this.in = in;
      this.n = n;
    }

    @Override
    public long length() {
      return n;
    }

    @Override
    public InputStream open() throws IOException {
      if (opened) {
        throw new TransportException(TransportException.Kind.BROKEN, "upload chunk interrupted", true, null);
      }
      opened = true;
      return new InputStream() {
        long left = n;

        @Override
        public int read() throws IOException {
          if (left <= 0) {
            return -1;
          }
          int b = in.read();
          if (b >= 0) {
            left--;
          }
          return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          if (left <= 0) {
            return -1;
          }
          int k = in.read(b, off, (int) Math.min(len, left));
          if (k > 0) {
            left -= k;
          }
          return k;
        }
      };
    }
  }

  @Override
  public Digest putManifest(String tag, byte[] bytes, String mediaType) throws IOException {
    Digest d = Digest.of(bytes);
    String target = tag != null ? tag : d.toString();
    HttpCall c = HttpCall.of("PUT", url("manifests/" + target)).header("Content-Type", mediaType)
        .withBody(HttpCall.bytes(bytes));
    return retrying(() -> {
      try (HttpReply r = call(c, Access.PUSH)) {
        if (r.status() != 201 && r.status() != 200) {
          throw unexpected(r, "manifest '" + target + "'");
        }
        String served = r.header("Docker-Content-Digest");
        if (served != null && Digest.isValid(served) && !served.equals(d.toString())) {
          throw ModelCacheException.digestMismatch(
              where() + ": manifest " + d + " failed verification (got " + served + ")");
        }
        return d;
      }
    });
  }

  static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  // ---------------------------------------------------------------- auth, redirects, retries

  private interface Op<T> {
    T run() throws IOException;
  }

  /** Runs {@code op}, retrying network failures and 5xx with capped exponential backoff. */
  private <T> T retrying(Op<T> op) throws IOException {
    int attempt = 0;
    boolean direct = false;
    while (true) {
      attempt++;
      try {
        return op.run();
      } catch (TransportException e) {
        if (attempt >= opts.maxAttempts()) {
          if (!direct && http.fallBackToDirect(base, e.shortCause())) {
            direct = true; // the proxy used up the budget: one more budget straight to the registry
            attempt = 0;
            continue;
          }
          throw userError(e);
        }
        RegistryStats.retried(Transient.reason(e));
        Duration d = opts.backoff().delay(attempt, ThreadLocalRandom.current().nextDouble());
        LOG.debug("{}: attempt {} failed ({}), retrying in {} ms", host, attempt, e.shortCause(), d.toMillis());
        try {
          opts.sleeper().sleep(d);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new java.io.InterruptedIOException("interrupted while retrying " + host);
        }
      }
    }
  }

  ModelCacheException userError(TransportException e) {
    return switch (e.kind()) {
      case TIMEOUT -> new ModelCacheException(Kind.UNREACHABLE, host + ": registry timed out (" + e.shortCause() + ")", e);
      case SERVER -> new ModelCacheException(Kind.UNREACHABLE, host + ": registry error (" + e.shortCause() + ")", e);
      default -> new ModelCacheException(Kind.UNREACHABLE, host + ": registry unreachable (" + e.shortCause() + ")", e);
    };
  }

  /** One attempt: sends with the current auth, answers one 401 challenge, follows redirects. */
  private HttpReply call(HttpCall call, Access access) throws IOException {
    boolean challenged = false;
    boolean reread = false;
    while (true) {
      Credentials used = creds;
      String auth = authorization(access);
      HttpReply r = followRedirects(call, auth);
      if (r.status() >= 500) {
        String why = r.status() + " " + r.reason();
        r.discard();
        throw new TransportException(TransportException.Kind.SERVER, why, false, null);
      }
      if (r.status() == 403 && !reread && RedirectPolicy.mayForwardAuthorization(call.uri(), r.uri())
          && credentialsChanged(used)) {
        r.discard(); // refused: the credential source may have rotated them meanwhile
        reread = true;
        continue;
      }
      if (r.status() != 401 || !RedirectPolicy.mayForwardAuthorization(call.uri(), r.uri())) {
        return r;
      }
      AuthChallenge ch = AuthChallenge.parse(r.header("WWW-Authenticate"));
      r.discard();
      boolean bearerChallenge = ch != null && ch.isBearer() && ch.param("realm") != null;
      if (challenged || (!bearerChallenge && (creds == null || (basicMode && auth != null)))) {
        if (!reread && credentialsChanged(used)) {
          reread = true;
          challenged = false;
          continue;
        }
        throw authFailed(401, "Unauthorized");
      }
      challenged = true;
      if (bearerChallenge) {
        bearer = ch;
        tokens.invalidate(scope(access));
      } else {
        basicMode = true;
      }
    }
  }

  /**
   * After a refusal of {@code used}: true when the credentials are now others, because another request
   * already read them again or because the source (docker config, helper) now says something else. The
   * client then holds exactly what the source says (nothing, if it has nothing) and no token of before.
   */
  private boolean credentialsChanged(Credentials used) throws IOException {
    if (source == null) {
      return false;
    }
    synchronized (tokens) {
      if (!java.util.Objects.equals(creds, used)) {
        return true;
      }
      Credentials now = source.read();
      if (java.util.Objects.equals(now, used)) {
        return false;
      }
      creds = now;
      tokens.clear();
    }
    LOG.info("{}: registry refused the credentials; using the ones its credential source has now", host);
    return true;
  }

  private String scope(Access a) {
    return switch (a) {
      case PULL -> "repository:" + repo + ":pull";
      case PUSH -> "repository:" + repo + ":pull,push";
      case LOGIN -> "";
    };
  }

  private String authorization(Access access) throws IOException {
    AuthChallenge b = bearer;
    if (b != null) {
      String scope = scope(access);
      String t = tokens.get(scope);
      if (t == null) {
        t = fetchToken(b, scope);
      }
      return "Bearer " + t;
    }
    Credentials c = creds;
    if (basicMode && c != null && !c.isIdentityToken()) {
      return c.basicHeader();
    }
    return null;
  }

  private String fetchToken(AuthChallenge ch, String scope) throws IOException {
    Credentials used = creds;
    try {
      return fetchToken(ch, scope, used);
    } catch (ModelCacheException e) {
      if (e.kind() == Kind.AUTH && credentialsChanged(used)) {
        return fetchToken(ch, scope, creds);
      }
      throw e;
    }
  }

  private String fetchToken(AuthChallenge ch, String scope, Credentials creds) throws IOException {
    StringBuilder q = new StringBuilder();
    if (ch.param("service") != null) {
      q.append("service=").append(enc(ch.param("service")));
    }
    if (!scope.isEmpty()) {
      q.append(q.isEmpty() ? "" : "&").append("scope=").append(enc(scope));
    }
    URI realm = URI.create(ch.param("realm"));
    URI u = q.isEmpty() ? realm : URI.create(realm + (realm.getRawQuery() == null ? "?" : "&") + q);
    HttpCall c = HttpCall.of("GET", u);
    if (creds != null && creds.isIdentityToken()) {
      c = IdentityTokens.refreshCall(realm, ch.param("service"), scope, creds.password());
    } else if (creds != null) {
      c = c.header("Authorization", creds.basicHeader());
    }
    try (HttpReply r = http.send(c)) {
      if (r.status() == 401 || r.status() == 403) {
        throw authFailed(r.status(), r.reason(), creds);
      }
      if (r.status() >= 500) {
        throw new TransportException(TransportException.Kind.SERVER, r.status() + " " + r.reason(), false, null);
      }
      if (r.status() != 200) {
        throw new ModelCacheException(Kind.AUTH,
            host + ": token service answered " + r.status() + " " + r.reason());
      }
      JsonNode n = JSON.readTree(r.readAll(1 << 20, () -> new ModelCacheException(Kind.AUTH,
          host + ": token response too large")));
      String token = n.path("token").asText("");
      if (token.isEmpty()) {
        token = n.path("access_token").asText("");
      }
      if (token.isEmpty()) {
        throw new ModelCacheException(Kind.AUTH, host + ": token service sent no token");
      }
      tokens.put(scope, token, n.path("expires_in").asLong(0));
      return token;
    }
  }

  /** Follows up to 5 redirects; a 403 from another host (expired presigned URL) re-asks the registry. */
  private HttpReply followRedirects(HttpCall call, String auth) throws IOException {
    HttpCall first = call.header("Authorization", auth);
    HttpCall cur = first;
    int redirects = 0;
    int reasks = 0;
    while (true) {
      HttpReply r = http.send(cur);
      String loc = r.header("Location");
      if (RedirectPolicy.isRedirect(r.status()) && loc != null) {
        r.discard();
        if (++redirects > RedirectPolicy.MAX_REDIRECTS) {
          throw new ModelCacheException(Kind.IO, host + ": too many redirects for " + call.uri().getRawPath());
        }
        URI next = RedirectPolicy.resolve(cur.uri(), loc);
        cur = cur.withUri(next)
            .header("Authorization", RedirectPolicy.mayForwardAuthorization(call.uri(), next) ? auth : null);
        continue;
      }
      if (r.status() == 403 && redirects > 0 && !RedirectPolicy.mayForwardAuthorization(call.uri(), cur.uri())
          && reasks < 2) {
        r.discard();
        reasks++;
        redirects = 0;
        cur = first;
        continue;
      }
      return r;
    }
  }

  private ModelCacheException authFailed(int status, String reason) {
    return authFailed(status, reason, creds);
  }

  private ModelCacheException authFailed(int status, String reason, Credentials creds) {
    if (creds == null) {
      if (status == 401) {
        return new ModelCacheException(Kind.AUTH,
            host + ": authentication required; run 'modelcache login " + host + "'");
      }
      return new ModelCacheException(Kind.AUTH, host + ": authentication failed (" + status + " " + reason + ")");
    }
    return new ModelCacheException(Kind.AUTH,
        host + ": authentication failed for user '" + creds.user() + "' (" + status + " " + reason + ")");
  }

  /** For {@link StreamedUpload}: one attempt of a push request (auth, redirects), no retries. */
  HttpReply pushCall(HttpCall c) throws IOException {
    return call(c, Access.PUSH);
  }

  ModelCacheException unexpectedReply(HttpReply r, String what) {
    return unexpected(r, what);
  }

  URI uploadLocation(HttpReply r, String what) throws IOException {
    String loc = r.header("Location");
    if (loc == null) {
      throw new ModelCacheException(Kind.IO, where() + ": " + what + ": no Location in response");
    }
    return RedirectPolicy.resolve(r.uri(), loc);
  }

  /** Opens an upload session (with the client's retries); returns its URL. */
  URI startUpload(String what) throws IOException {
    return retrying(() -> {
      try (HttpReply r = call(HttpCall.of("POST", url("blobs/uploads/")), Access.PUSH)) {
        if (r.status() != 202) {
          throw unexpected(r, what);
        }
        return uploadLocation(r, what);
      }
    });
  }

  private ModelCacheException unexpected(HttpReply r, String what) {
    if (r.status() == 401 || r.status() == 403) {
      r.discard();
      return authFailed(r.status(), r.reason());
    }
    String code = errorCode(r.errorBody());
    String name = repo == null ? host : where();
    return new ModelCacheException(Kind.IO, name + ": unexpected response for " + what + " (" + r.status() + " "
        + r.reason() + (code.isEmpty() ? "" : ", " + code) + ")");
  }

  private static String errorCode(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      return n == null ? "" : n.path("errors").path(0).path("code").asText("");
    } catch (IOException e) {
      return "";
    }
  }

  @Override
  public void close() {
    http.close();
  }
}
