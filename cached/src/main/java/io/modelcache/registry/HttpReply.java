package io.modelcache.registry;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.function.Consumer;

/**
 * A response whose body streams from the connection. Closing it returns the connection to the pool
 * when the body was fully read (and keep-alive holds), and closes the connection otherwise. Used by one
 * thread at a time.
 */
final class HttpReply implements AutoCloseable {
  private final URI uri;
  private final int status;
  private final String reason;
  private final HttpHeaders headers;
  private final ChannelBridge.Inbox inbox;
  private final long idleTimeoutMs;
  private final Consumer<Boolean> release;
  private final BodyStream body = new BodyStream();
  /** HEAD: the codec still sends an empty LastHttpContent, consumed on close. */
  private final boolean noBody;
  private boolean done;
  private boolean closed;

  HttpReply(URI uri, int status, String reason, HttpHeaders headers, ChannelBridge.Inbox inbox, long idleTimeoutMs,
      Consumer<Boolean> release, boolean noBody) {
    this.uri = uri;
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.inbox = inbox;
    this.idleTimeoutMs = idleTimeoutMs;
    this.release = release;
    this.noBody = noBody;
  }

  URI uri() {
    return uri;
  }

  int status() {
    return status;
  }

  String reason() {
    return reason;
  }

  String header(String name) {
    return headers.get(name);
  }

  /** -1 when absent. */
  long contentLength() {
    String v = headers.get("Content-Length");
    if (v == null) {
      return -1;
    }
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  InputStream body() {
    return body;
  }

  /** Reads the whole body, failing with {@code tooBig} beyond {@code max} bytes. */
  byte[] readAll(long max, java.util.function.Supplier<IOException> tooBig) throws IOException {
    long cl = contentLength();
    if (cl > max) {
      throw tooBig.get();
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(cl > 0 ? (int) cl : 1024);
    byte[] buf = new byte[16384];
    int n;
    long total = 0;
    while ((n = body.read(buf, 0, buf.length)) >= 0) {
      total += n;
      if (total > max) {
        throw tooBig.get();
      }
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }

  /** Reads up to 64 KiB of an error body for diagnostics; never throws. */
  String errorBody() {
    try {
      return new String(readAll(64 << 10, () -> new IOException("too big")), java.nio.charset.StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  /** Reads and discards a small remaining body so the connection can be reused. */
  void discard() {
    try {
      long cl = contentLength();
      if (cl >= 0 && cl <= 64 << 10) {
        body.skip(Long.MAX_VALUE);
      }
    } catch (IOException ignored) {
      // the connection is closed instead of reused
    }
    close();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    if (!done) {
      body.tryFinish();
    }
    closed = true;
    body.releaseCurrent();
    release.accept(done);
  }

  /**
   * The response body. Also a {@link java.nio.channels.ReadableByteChannel}, so a caller with a
   * direct buffer gets the bytes copied once, straight out of Netty's buffers.
   */
  private final class BodyStream extends InputStream implements java.nio.channels.ReadableByteChannel {
    private HttpContent current;
    private long received;

    private boolean fill() throws IOException {
      while (current == null || !current.content().isReadable()) {
        boolean last = current instanceof LastHttpContent;
        releaseCurrent();
        if (last) {
          done = true;
        }
        if (done) {
          return false;
        }
        if (closed) {
          throw new IOException("response body closed");
        }
        Object o;
        try {
          o = inbox.poll(idleTimeoutMs);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new java.io.InterruptedIOException("interrupted while reading " + uri.getHost());
        }
        if (o == null) {
          throw new TransportException(TransportException.Kind.TIMEOUT, "no data for " + HttpTransport.human(idleTimeoutMs),
              false, null);
        } else if (o == ChannelBridge.CLOSED) {
          throw new TransportException(TransportException.Kind.BROKEN,
              "connection closed after " + received + " body bytes", false, null);
        } else if (o instanceof Throwable t) {
          throw new TransportException(TransportException.Kind.BROKEN, HttpTransport.describe(t), false, t);
        } else if (o instanceof HttpContent c) {
          current = c;
        } else {
          ReferenceCountUtil.release(o);
        }
      }
      return true;
    }

    /** Without blocking, notices an already-received end of body (so the connection can be reused). */
    void tryFinish() {
      while (!done && (current == null || !current.content().isReadable())) {
        if (current instanceof LastHttpContent) {
          releaseCurrent();
          done = true;
          return;
        }
        releaseCurrent();
        Object o;
        if (endIsDue()) {
          // The end marker is decoded right after the last byte: worth a short wait to keep the connection.
          try {
            o = inbox.poll(Math.min(1000, idleTimeoutMs));
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        } else {
          o = inbox.pollNow();
        }
        if (o instanceof HttpContent c) {
          current = c;
        } else {
          ReferenceCountUtil.release(o);
          return;
        }
      }
    }

    private boolean endIsDue() {
      long cl = contentLength();
      return noBody || status == 204 || status == 304 || (cl >= 0 && received >= cl);
    }

    void releaseCurrent() {
      if (current != null) {
        current.release();
        current = null;
      }
    }

    @Override
    public int read() throws IOException {
      if (!fill()) {
        return -1;
      }
      received++;
      return current.content().readByte() & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (!fill()) {
        return -1;
      }
      ByteBuf c = current.content();
      int n = Math.min(len, c.readableBytes());
      c.readBytes(b, off, n);
      received += n;
      return n;
    }

    @Override
    public int read(java.nio.ByteBuffer dst) throws IOException {
      if (!dst.hasRemaining()) {
        return 0;
      }
      if (!fill()) {
        return -1;
      }
      ByteBuf c = current.content();
      int n = Math.min(dst.remaining(), c.readableBytes());
      int lim = dst.limit();
      dst.limit(dst.position() + n);
      c.readBytes(dst);
      dst.limit(lim);
      received += n;
      return n;
    }

    @Override
    public boolean isOpen() {
      return !closed;
    }

    @Override
    public long skip(long n) throws IOException {
      long skipped = 0;
      while (skipped < n && fill()) {
        ByteBuf c = current.content();
        int k = (int) Math.min(n - skipped, c.readableBytes());
        c.skipBytes(k);
        skipped += k;
        received += k;
      }
      return skipped;
    }

    @Override
    public void close() {
      HttpReply.this.close();
    }
  }
}
