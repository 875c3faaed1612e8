package io.modelcache.handover;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.handover.HolderProtocol.Entry;
import io.modelcache.handover.HolderProtocol.Op;
import io.modelcache.handover.HolderProtocol.ProtocolException;
import io.modelcache.handover.HolderProtocol.Reply;
import io.modelcache.handover.HolderProtocol.Request;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HolderProtocolTest {
  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void requestsHaveOneExactWireForm() throws Exception {
    Request put = Request.put("fuse-0a1b", Map.of("mountpoint", "/models/my model", "fuse.connection", "45"));
    assertArrayEquals(b("PUT fuse-0a1b\nfuse.connection=45\nmountpoint=/models/my model"), HolderProtocol.encode(put));
    assertEquals(put, HolderProtocol.decodeRequest(HolderProtocol.encode(put)));
    assertArrayEquals(b("GET fuse-0a1b"), HolderProtocol.encode(Request.get("fuse-0a1b")));
    assertArrayEquals(b("DROP x"), HolderProtocol.encode(Request.drop("x")));
    assertArrayEquals(b("LIST"), HolderProtocol.encode(Request.list()));
    assertEquals(Request.list(), HolderProtocol.decodeRequest(b("LIST")));
    assertEquals(new Request(Op.GET, "a.b_c-1", Map.of()), HolderProtocol.decodeRequest(b("GET a.b_c-1")));
  }

  @Test
  void repliesCarryEntriesOrOneErrorLine() throws Exception {
    Reply ok = Reply.ok(List.of(new Entry("a", Map.of("mountpoint", "/m/a", "digest", "sha256:00")),
        new Entry("b", Map.of())));
    assertArrayEquals(b("OK\na\tdigest=sha256:00\tmountpoint=/m/a\nb"), HolderProtocol.encode(ok));
    assertEquals(ok, HolderProtocol.decodeReply(HolderProtocol.encode(ok)));
    assertEquals(Reply.ok(List.of()), HolderProtocol.decodeReply(b("OK")));
    Reply err = HolderProtocol.decodeReply(HolderProtocol.encode(Reply.error("not held: x\nsecond line")));
    assertFalse(err.ok());
    assertEquals("not held: x second line", err.error());
  }

  @Test
  void malformedMessagesAreRefusedWithAReason() {
    assertEquals("empty message", refused(""));
    assertEquals("unknown request 'TAKE'", refused("TAKE x"));
    assertEquals("GET: bad name ''", refused("GET"));
    assertEquals("GET: bad name 'a:b'", refused("GET a:b"));
    assertEquals("GET: bad name '../x'", refused("GET ../x"));
    assertEquals("LIST takes nothing", refused("LIST x"));
    assertEquals("GET carries no metadata", refused("GET a\nk=v"));
    assertEquals("bad metadata 'novalue'", refused("PUT a\nnovalue"));
    assertEquals("metadata key k given twice", refused("PUT a\nk=1\nk=2"));
    assertEquals("metadata value of k is too long or has a tab or NUL", refused("PUT a\nk=x\ty"));
    byte[] big = new byte[HolderProtocol.MAX_MESSAGE + 1];
    java.util.Arrays.fill(big, (byte) 'a');
    assertTrue(assertThrows(ProtocolException.class, () -> HolderProtocol.decodeRequest(big)).getMessage()
        .startsWith("message of 65537 bytes"));
    assertThrows(ProtocolException.class, () -> HolderProtocol.decodeReply(b("MAYBE")));
    assertThrows(ProtocolException.class, () -> HolderProtocol.decodeReply(b("OK\nbad name\tk=v")));
  }

  @Test
  void encodingRefusesWhatCouldNotBeDecoded() {
    assertThrows(IllegalArgumentException.class, () -> HolderProtocol.encode(Request.get("a b")));
    assertThrows(IllegalArgumentException.class, () -> HolderProtocol.encode(Request.put("a", Map.of("k", "x\ny"))));
    assertThrows(IllegalArgumentException.class, () -> HolderProtocol.encode(Request.put("a", Map.of("bad key", "v"))));
    assertThrows(IllegalArgumentException.class, () -> HolderProtocol.encode(Request.get("x".repeat(129))));
  }

  private static String refused(String msg) {
    return assertThrows(ProtocolException.class, () -> HolderProtocol.decodeRequest(b(msg))).getMessage();
  }
}
