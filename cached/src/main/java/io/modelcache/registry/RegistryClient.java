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
import io.modelcache.registry.RegistryAuth.Access;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OCI distribution client for one repository: pulls manifests and blobs (with Range), pushes blobs
 * (monolithic, chunked, or streamed by {@link StreamedUpload}) and manifests, and retries network
 * failures and 5xx with capped exponential backoff. Authorization and redirects are
 * {@link RegistryAuth}'s; a blob body is a {@link BlobStream}. Thread-safe.
 */
public final class RegistryClient implements ArtifactSource, ArtifactSink {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryClient.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Manifests are small; Distribution itself caps them at 4 MiB. */
  static final long MAX_MANIFEST_BYTES = 8L << 20;

  private final Reference ref;
  private final String host;
  private final String repo;
  private final URI base;
  private final RegistryOptions opts;
  private final HttpTransport http;
  private final RegistryAuth auth;
  private final Retries retries;

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
    boolean plain = opts.plainHttp() != null ? opts.plainHttp() : isLoopback(host);
    this.base = URI.create((plain ? "http://" : "https://") + host + "/");
    this.http = new HttpTransport(opts, host);
    this.auth = new RegistryAuth(host, repo, http, creds, source, opts.clock());
    this.retries = new Retries(host, base, opts, http);
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
          s = new BlobStream(where(), digest, r, 0, length);
        } else if (r.status() == 200) {
          s = new BlobStream(where(), digest, r, offset, length);
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
        PlainUpload.monolithic(this, digest, size, body);
        return null;
      });
    } else {
      retrying(() -> {
        PlainUpload.chunked(this, digest, size, body);
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
        abandoned = uploadLocation(r, "upload of blob " + digest);
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

  static URI withQuery(URI u, String param) {
    String s = u.toString();
    return URI.create(s + (u.getRawQuery() == null ? "?" : "&") + param);
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

  /** Runs {@code op} with {@link Retries}' retries and proxy fallback. */
  private <T> T retrying(Retries.Op<T> op) throws IOException {
    return retries.run(op);
  }

  ModelCacheException userError(TransportException e) {
    return retries.userError(e);
  }

  private HttpReply call(HttpCall call, Access access) throws IOException {
    return auth.call(call, access);
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

  /** Where upload sessions are opened ({@code POST}). */
  URI uploadsUrl() {
    return url("blobs/uploads/");
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
      return auth.authFailed(r.status(), r.reason());
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
