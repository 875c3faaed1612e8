package io.modelcache.cache;

import io.modelcache.oci.Digest;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.openhft.chronicle.map.ChronicleMap;
import net.openhft.chronicle.map.ChronicleMapBuilder;

/**
 * The persisted index, one Chronicle Map in {@code dir/index.dat} with two kinds of entries:
 *
 * <ul>
 *   <li>{@code b:<key>} → blob record (~110 bytes): version, state, encoding, chunk size, content
 *       length, blob size, content offset, last access, flags, digest hex.
 *   <li>{@code c:<key>:<group>} → chunk group (264 bytes) for chunks {@code [64g, 64g+64)}: the
 *       64-bit presence word followed by 64 CRC32C values. Absent when no chunk of the group is
 *       present, unless the blob was verified once: then its CRCs are kept as known-good values
 *       that refetched chunks must match.
 * </ul>
 *
 * <p>Why groups of 64: a presence word of the in-memory bitmap maps 1:1 onto an entry, values stay
 * fixed-size and small whatever the blob size (a 100 GB blob is ~400 entries at 4 MiB chunks, not
 * one 100 KB value), and writing a chunk rewrites 264 bytes. Called only when chunks complete or
 * are evicted, never on the read path. Thread-safe (Chronicle Map is).
 */
final class CacheIndex implements Closeable {
  static final int GROUP = 64;
  private static final int VERSION = 1;
  private static final int GROUP_BYTES = 8 + GROUP * 4;
  /** The blob was verified once: every chunk's CRC (present or not) is known good. */
  private static final long FLAG_TRUSTED = 1;

  /** A decoded blob record. */
  record BlobRecord(String key, BlobSpec spec, int chunkSize, BlobState state, long lastAccess, boolean trusted) {}

  private final ChronicleMap<String, byte[]> map;

  private CacheIndex(ChronicleMap<String, byte[]> map) {
    this.map = map;
  }

  /** Opens or creates the index; {@code recover} after an unclean stop (the baseline: plain open may hang). */
  static CacheIndex open(Path file, long entries, boolean recover) throws IOException {
    ChronicleMapBuilder<String, byte[]> b = ChronicleMapBuilder.of(String.class, byte[].class)
        .name("modelcache-index")
        .entries(entries)
        .averageKeySize(80)
        .averageValueSize(GROUP_BYTES)
        .maxBloatFactor(4)
        // The daemon's own shutdown hook closes the cache (flush, then the CLEAN marker). Chronicle's hook
        // would close the map first, so a SIGTERM would look like a crash at the next start.
        .skipCloseOnExitHook(true);
    ChronicleMap<String, byte[]> m = recover && Files.exists(file)
        ? b.recoverPersistedTo(file.toFile(), true)
        : b.createPersistedTo(file.toFile());
    return new CacheIndex(m);
  }

  void putBlob(String key, BlobSpec spec, int chunkSize, BlobState state, long lastAccess, boolean trusted) {
    byte[] hex = spec.digest().hex().getBytes(StandardCharsets.US_ASCII);
    ByteBuffer bb = ByteBuffer.allocate(3 + 4 + 8 * 5 + hex.length);
    bb.put((byte) VERSION).put((byte) state.ordinal()).put((byte) spec.encoding().ordinal());
    bb.putInt(chunkSize).putLong(spec.contentLength()).putLong(spec.blobSize())
        .putLong(spec.contentOffset()).putLong(lastAccess).putLong(trusted ? FLAG_TRUSTED : 0L).put(hex);
    map.put("b:" + key, bb.array());
  }

  /** Writes a group; an empty one is deleted unless its CRCs are worth keeping ({@code keepEmpty}). */
  void putGroup(String key, int group, long bits, int[] crcs, boolean keepEmpty) {
    String k = "c:" + key + ":" + group;
    if (bits == 0 && !keepEmpty) {
      map.remove(k);
      return;
    }
    ByteBuffer bb = ByteBuffer.allocate(GROUP_BYTES);
    bb.putLong(bits);
    int base = group * GROUP;
    for (int i = 0; i < GROUP; i++) {
      bb.putInt(base + i < crcs.length ? crcs[base + i] : 0);
    }
    map.put(k, bb.array());
  }

  void removeBlob(String key, int groups) {
    map.remove("b:" + key);
    for (int g = 0; g < groups; g++) {
      map.remove("c:" + key + ":" + g);
    }
  }

  /** Every blob record, skipping (and deleting) entries it cannot read. */
  List<BlobRecord> blobs() {
    List<BlobRecord> out = new ArrayList<>();
    List<String> bad = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : map.entrySet()) {
      if (!e.getKey().startsWith("b:")) {
        continue;
      }
      String key = e.getKey().substring(2);
      try {
        ByteBuffer bb = ByteBuffer.wrap(e.getValue());
        if (bb.get() != VERSION) {
          bad.add(e.getKey());
          continue;
        }
        BlobState state = BlobState.values()[bb.get()];
        Encoding enc = Encoding.values()[bb.get()];
        int chunkSize = bb.getInt();
        long contentLength = bb.getLong();
        long blobSize = bb.getLong();
        long contentOffset = bb.getLong();
        long lastAccess = bb.getLong();
        boolean trusted = (bb.getLong() & FLAG_TRUSTED) != 0;
        byte[] hex = new byte[64];
        bb.get(hex);
        BlobSpec spec = new BlobSpec(key, new Digest(new String(hex, StandardCharsets.US_ASCII)),
            blobSize, enc, contentOffset, contentLength);
        out.add(new BlobRecord(key, spec, chunkSize, state, lastAccess, trusted));
      } catch (RuntimeException ex) {
        bad.add(e.getKey());
      }
    }
    bad.forEach(map::remove);
    return out;
  }

  /** Calls {@code sink} for every chunk group; returns keys of groups whose blob is unknown. */
  void groups(GroupSink sink) {
    List<String> orphans = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : map.entrySet()) {
      String k = e.getKey();
      if (!k.startsWith("c:")) {
        continue;
      }
      int colon = k.lastIndexOf(':');
      String key = k.substring(2, colon);
      int group;
      try {
        group = Integer.parseInt(k.substring(colon + 1));
      } catch (NumberFormatException ex) {
        orphans.add(k);
        continue;
      }
      ByteBuffer bb = ByteBuffer.wrap(e.getValue());
      if (bb.remaining() != GROUP_BYTES) {
        orphans.add(k);
        continue;
      }
      long bits = bb.getLong();
      int[] crcs = new int[GROUP];
      for (int i = 0; i < GROUP; i++) {
        crcs[i] = bb.getInt();
      }
      if (!sink.accept(key, group, bits, crcs)) {
        orphans.add(k);
      }
    }
    orphans.forEach(map::remove);
  }

  /** Receives one persisted chunk group; returns false when the group should be deleted. */
  interface GroupSink {
    boolean accept(String key, int group, long bits, int[] crcs);
  }

  @Override
  public void close() {
    map.close();
  }
}
