package io.modelcache.handover;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.fuse.LiveConnection;
import io.modelcache.fuse.kernel.Negotiated;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KeptConnectionTest {
  private static final Negotiated INIT = new Negotiated(7, 45, 40, 0x5fd73fffffbL, 0x40000040000001L, 256, 1 << 20, 330);

  @Test
  void namesAreStablePerMountpointAndValidFdNames() {
    String s = KeptConnection.sessionName("/models/llama");
    assertEquals(s, KeptConnection.sessionName("/models/llama"));
    assertTrue(s.matches("fuse-[0-9a-f]{16}-s"), s);
    assertEquals(s.substring(0, s.length() - 2) + "-c", KeptConnection.cloneName("/models/llama"));
    assertTrue(!s.equals(KeptConnection.sessionName("/models/llama2")));
    assertTrue(HolderProtocol.validName(s));
  }

  @Test
  void metadataCarriesWhatTheNextDaemonNeeds() {
    long dev = 41; // 0:41
    LiveConnection c = new LiveConnection(5, 6, dev, INIT);
    Map<String, String> meta = KeptConnection.meta("/m/a b", c);
    assertEquals(Map.of("mountpoint", "/m/a b", "device", "41", "fuse.connection", "41",
        "init", "7.45.40.5fd73fffffb.40000040000001.256.1048576.330"), meta);
    assertEquals(new LiveConnection(9, 10, dev, INIT), KeptConnection.connection(meta, 9, 10));
    // Written by a daemon that did not record the request timeout yet: none.
    Map<String, String> older = new HashMap<>(meta);
    older.put("init", "7.45.40.5fd73fffffb.40000001.256.1048576");
    assertEquals(new Negotiated(7, 45, 40, 0x5fd73fffffbL, 0x40000001L, 256, 1 << 20, 0),
        KeptConnection.connection(older, 9, 10).negotiated());
    // A device with a minor above 255: the kernel's number differs from the userspace encoding.
    long big = (300L & 0xff) | ((300L & ~0xffL) << 12);
    assertEquals("300", KeptConnection.meta("/m", new LiveConnection(1, 2, big, INIT)).get("fuse.connection"));
  }

  @Test
  void badMetadataIsRefused() {
    Map<String, String> meta = new HashMap<>(KeptConnection.meta("/m", new LiveConnection(1, 2, 41, INIT)));
    meta.put("init", "7.45");
    assertThrows(IllegalArgumentException.class, () -> KeptConnection.connection(meta, 1, 2));
    meta.remove("init");
    assertThrows(IllegalArgumentException.class, () -> KeptConnection.connection(meta, 1, 2));
  }
}
