package io.modelcache.modelpack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class TarLocatorTest {
  static final Instant T = Instant.ofEpochSecond(1_700_000_000L);

  static byte[] tarOf(String name, byte[] content) throws Exception {
    byte[] h = TarWriter.header(name, content.length, 0640, 1000, 1001, T);
    return TarWriter.stream(h, content.length, new ByteArrayInputStream(content)).readAllBytes();
  }

  /** A GNU tar with an 'L' long-name block, built by hand. */
  static byte[] gnuLongName(String name, byte[] content) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] nb = (name + "\0").getBytes(StandardCharsets.UTF_8);
    out.writeBytes(gnuBlock("././@LongLink", nb.length, 'L'));
    out.writeBytes(Arrays.copyOf(nb, (int) TarLocator.padded(nb.length)));
    out.writeBytes(gnuBlock(name.substring(0, 100), content.length, '0'));
    out.writeBytes(Arrays.copyOf(content, (int) TarLocator.padded(content.length)));
    out.writeBytes(new byte[1024]);
    return out.toByteArray();
  }

  static byte[] gnuBlock(String name, long size, char type) {
    byte[] h = new byte[512];
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(n, 0, h, 0, Math.min(100, n.length));
    put(h, 100, "0000644\0");
    put(h, 108, "0001750\0");
    put(h, 116, "0001750\0");
    put(h, 124, String.format("%011o\0", size));
    put(h, 136, String.format("%011o\0", T.getEpochSecond()));
    h[156] = (byte) type;
    put(h, 257, "ustar  \0");
    Arrays.fill(h, 148, 156, (byte) ' ');
    int sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    put(h, 148, String.format("%06o\0 ", sum));
    return h;
  }

  static void put(byte[] h, int off, String s) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(b, 0, h, off, b.length);
  }

  @Test
  void ustar() throws Exception {
    byte[] content = "abc".getBytes(StandardCharsets.UTF_8);
    byte[] tar = tarOf("dir/config.json", content);
    assertEquals(512 + 512 + 1024, tar.length);
    TarEntry e = ((TarLocator.Found) TarLocator.first(tar, tar.length)).entry();
    assertEquals("dir/config.json", e.name());
    assertEquals(3, e.size());
    assertEquals(512, e.contentOffset());
    assertEquals(0640, e.mode());
    assertEquals(1000, e.uid());
    assertEquals(1001, e.gid());
    assertEquals(T, e.mtime());
    assertTrue(e.isRegular());
    assertEquals("abc", new String(tar, 512, 3, StandardCharsets.UTF_8));
  }

  @Test
  void paxLongPath() throws Exception {
    String name = "a/".repeat(80) + "model.safetensors";
    byte[] tar = tarOf(name, new byte[700]);
    TarLocator.Result need = TarLocator.first(tar, 512);
    assertEquals(1024, ((TarLocator.NeedMore) need).bytes());
    TarEntry e = ((TarLocator.Found) TarLocator.first(tar, tar.length)).entry();
    assertEquals(name, e.name());
    assertEquals(700, e.size());
    assertEquals(1536, e.contentOffset());
  }

  @Test
  void gnuLongNameBlock() throws Exception {
    String name = "x".repeat(150) + "/weights.bin";
    byte[] tar = gnuLongName(name, "hi".getBytes(StandardCharsets.UTF_8));
    TarEntry e = ((TarLocator.Found) TarLocator.first(tar, tar.length)).entry();
    assertEquals(name, e.name());
    assertEquals(2, e.size());
    assertEquals(1536, e.contentOffset());
    assertEquals("hi", new String(tar, 1536, 2, StandardCharsets.UTF_8));
    assertEquals(0644, e.mode());
  }

  @Test
  void endAndCorruption() throws Exception {
    assertInstanceOf(TarLocator.End.class, TarLocator.first(new byte[1024], 1024));
    assertEquals(512, ((TarLocator.NeedMore) TarLocator.first(new byte[10], 10)).bytes());
    byte[] tar = tarOf("f", new byte[1]);
    tar[10] ^= 1;
    TarFormatException e = assertThrows(TarFormatException.class, () -> TarLocator.first(tar, tar.length));
    assertEquals("bad tar header checksum at offset 0", e.getMessage());
  }

  @Test
  void base256Size() throws Exception {
    byte[] h = gnuBlock("big", 0, '0');
    Arrays.fill(h, 124, 136, (byte) 0);
    h[124] = (byte) 0x80;
    long size = 10L << 30;
    for (int i = 0; i < 8; i++) {
      h[135 - i] = (byte) (size >>> (8 * i));
    }
    Arrays.fill(h, 148, 156, (byte) ' ');
    int sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    put(h, 148, String.format("%06o\0 ", sum));
    assertEquals(size, ((TarLocator.Found) TarLocator.first(h, 512)).entry().size());
  }

  @Test
  void streamReaderListsEntries() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] a = tarOf("a.txt", "AAAA".getBytes(StandardCharsets.UTF_8));
    byte[] b = tarOf("b/" + "y".repeat(120), "BB".getBytes(StandardCharsets.UTF_8));
    out.write(a, 0, a.length - 1024);
    out.write(b, 0, b.length);
    byte[] all = out.toByteArray();
    TarStreamReader r = new TarStreamReader(new ByteArrayInputStream(all));
    TarEntry e1 = r.next();
    TarEntry e2 = r.next();
    assertEquals("a.txt", e1.name());
    assertEquals(512, e1.contentOffset());
    assertEquals("b/" + "y".repeat(120), e2.name());
    assertEquals("BB", new String(all, (int) e2.contentOffset(), 2, StandardCharsets.UTF_8));
    assertEquals(null, r.next());
  }
}
