package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.HttpContent;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The bridge's backpressure: what a slow reader lets pile up in memory, and when reading resumes. */
class ChannelBridgeTest {
  private static final int SLICE = 1 << 20;

  private static HttpContent slice(int tag) {
    byte[] b = new byte[SLICE];
    java.util.Arrays.fill(b, (byte) tag);
    return new DefaultHttpContent(Unpooled.wrappedBuffer(b));
  }

  @Test
  void readingStopsAboveTheHighWaterMarkAndResumesBelowTheLowOne() throws Exception {
    ChannelBridge bridge = new ChannelBridge();
    EmbeddedChannel ch = new EmbeddedChannel(bridge);
    ChannelBridge.Inbox inbox = new ChannelBridge.Inbox(ch);
    bridge.attach(inbox);

    int highSlices = (int) (ChannelBridge.HIGH_WATER / SLICE);
    for (int i = 0; i < highSlices; i++) {
      ch.writeInbound(slice(i));
      assertTrue(ch.config().isAutoRead(), "still reading with " + (i + 1) + " MiB queued");
    }
    ch.writeInbound(slice(highSlices));
    assertFalse(ch.config().isAutoRead(), "reading stops once more than the high-water mark is queued");

    // The reader drains: reading resumes only once less than the low-water mark is left.
    List<Integer> tags = new ArrayList<>();
    long queued = (long) (highSlices + 1) * SLICE;
    while (queued - SLICE >= ChannelBridge.LOW_WATER) {
      HttpContent c = (HttpContent) inbox.poll(1000);
      tags.add((int) c.content().getByte(0));
      c.release();
      queued -= SLICE;
      assertFalse(ch.config().isAutoRead(), queued + " bytes left, at or above the low-water mark");
    }
    HttpContent c = (HttpContent) inbox.poll(1000);
    tags.add((int) c.content().getByte(0));
    c.release();
    assertTrue(ch.config().isAutoRead(), "reading resumes below the low-water mark");

    Object o;
    while ((o = inbox.pollNow()) != null) {
      tags.add((int) ((HttpContent) o).content().getByte(0));
      ((HttpContent) o).release();
    }
    List<Integer> expected = new ArrayList<>();
    for (int i = 0; i <= highSlices; i++) {
      expected.add(i);
    }
    assertEquals(expected, tags, "slices arrive whole and in order");
    ch.finishAndReleaseAll();
  }

  @Test
  void aClosedConnectionReachesTheReader() throws Exception {
    ChannelBridge bridge = new ChannelBridge();
    EmbeddedChannel ch = new EmbeddedChannel(bridge);
    ChannelBridge.Inbox inbox = new ChannelBridge.Inbox(ch);
    bridge.attach(inbox);
    ch.close();
    assertSame(ChannelBridge.CLOSED, inbox.poll(1000));
    assertTrue(bridge.isDead());
  }
}
