package io.modelcache.registry;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The last handler of a pooled channel: hands decoded HTTP objects to the one thread that owns the
 * current exchange, through a queue. Backpressure: when more than {@link #HIGH_WATER} body bytes are
 * queued, auto-read is switched off until the reader drains below {@link #LOW_WATER}, so a multi-GB
 * blob never sits in memory.
 */
final class ChannelBridge extends ChannelInboundHandlerAdapter {
  /**
   * Body bytes queued before reading stops: one reader buffer (the pull and the chunk cache take 4 MiB
   * at a time), so the socket is still read while the reader hashes and writes the last one
   * (docs/performance.md, "Fewer, larger socket reads"). Per connection: the daemon's 8 per registry
   * hold at most 8 × (4 + 1) MiB. {@code -Dmodelcache.http.queueBytes} for measuring.
   */
  static final long HIGH_WATER = Long.getLong("modelcache.http.queueBytes", 4 << 20);
  static final long LOW_WATER = HIGH_WATER / 4;

  /** Marker queued when the connection closes. */
  static final Object CLOSED = new Object();

  /** The queue of the exchange in progress; null while the channel idles in the pool. */
  private volatile Inbox inbox;
  private volatile boolean dead;

  /** Per-exchange inbox; consumed by exactly one thread. */
  static final class Inbox {
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final AtomicLong queuedBytes = new AtomicLong();
    private final Channel channel;

    Inbox(Channel channel) {
      this.channel = channel;
    }

    void offer(Object o) {
      if (o instanceof HttpContent c) {
        long q = queuedBytes.addAndGet(c.content().readableBytes());
        if (q > HIGH_WATER) {
          channel.config().setAutoRead(false);
        }
      }
      queue.add(o);
    }

    /** Next object or null on timeout. Re-enables reading once the backlog is small. */
    Object poll(long timeoutMs) throws InterruptedException {
      Object o = queue.poll();
      if (o == null) {
        if (!channel.config().isAutoRead()) {
          channel.config().setAutoRead(true);
        }
        o = queue.poll(timeoutMs, TimeUnit.MILLISECONDS);
      }
      if (o instanceof HttpContent c) {
        long q = queuedBytes.addAndGet(-c.content().readableBytes());
        if (q < LOW_WATER && !channel.config().isAutoRead()) {
          channel.config().setAutoRead(true);
        }
      }
      return o;
    }

    Object pollNow() {
      Object o = queue.poll();
      if (o instanceof HttpContent c) {
        queuedBytes.addAndGet(-c.content().readableBytes());
      }
      return o;
    }

    void drain() {
      Object o;
      while ((o = queue.poll()) != null) {
        ReferenceCountUtil.release(o);
      }
    }
  }

  void attach(Inbox i) {
    inbox = i;
  }

  void detach() {
    Inbox i = inbox;
    inbox = null;
    if (i != null) {
      i.drain();
    }
  }

  boolean isDead() {
    return dead;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    Inbox i = inbox;
    if (i == null && msg instanceof LastHttpContent last && !last.content().isReadable()
        && last.trailingHeaders().isEmpty()) {
      // The decoder's empty end-of-message marker can trail a bodiless response (HEAD, 204) that was
      // already handed back to the pool: harmless, and no reason to drop a good connection.
      last.release();
      return;
    }
    if (i == null) {
      // Nothing is expected on an idle connection: drop it rather than mis-assign it later.
      ReferenceCountUtil.release(msg);
      dead = true;
      ctx.close();
      return;
    }
    i.offer(msg);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    dead = true;
    Inbox i = inbox;
    if (i != null) {
      i.offer(CLOSED);
    }
    super.channelInactive(ctx);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    dead = true;
    Inbox i = inbox;
    if (i != null) {
      i.offer(cause);
    }
    ctx.close();
  }
}
