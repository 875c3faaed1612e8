package io.modelcache.modelpack;

import io.modelcache.error.ModelCacheException;
import io.modelcache.oci.ArtifactSource;
import io.modelcache.oci.Descriptor;
import io.modelcache.oci.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * {@code modelcache pull} of a plain tar layer that holds one file (the usual tar layer of a
 * ModelPack artifact): the file's content is streamed straight into it while every byte of the blob
 * is hashed, instead of the blob being downloaded and the entry copied out of it (which writes the
 * content twice, reads it back once and needs the space twice). Called by {@link ModelPuller} on its
 * download pool; stateless.
 */
final class TarEntryDownload {
  private TarEntryDownload() {}

  /**
   * Fetches (or finishes fetching) a plain tar layer that holds one file, writing only the file's
   * content, at offset 0 of {@code DIR/.modelcache-partial/<hex>.entry}, and hashing every byte of the
   * blob (header blocks, content, padding and end blocks); returns that file, verified. Against
   * downloading the blob and copying the entry out of it, this writes the content once instead of
   * twice, never reads it back, and needs no second copy's disk space. A resumed download asks the
   * registry for the header again (a few hundred bytes) and hashes the content already on disk. The
   * header in the verified stream must give the offset and size the layer was read with.
   */
  static Path download(ArtifactSource src, ModelArtifact art, ModelFile f, Path partialDir, AtomicLong done,
      long total, Consumer<Progress> report, Executor flusher, boolean directWrites) throws IOException {
    Descriptor layer = f.layer();
    Digest d = layer.digest();
    long off = f.contentOffset();
    long size = f.size();
    String where = art.ref() + ": layer " + d.shortHex();
    if (off < 0 || off + size > layer.size()) {
      throw ModelCacheException.invalid(where + ": cannot extract: entry at " + off + " of " + size
          + " bytes does not fit in the " + layer.size() + "-byte layer");
    }
    Path part = partialDir.resolve(d.hex() + ".entry");
    Files.deleteIfExists(partialDir.resolve(d.hex())); // a whole-blob partial from before this path existed
    long have = Files.isRegularFile(part) ? Files.size(part) : 0;
    if (have > size || (Files.exists(part) && !Files.isWritable(part))) {
      // too long, or given a read-only mode and then not moved into place: start over
      Files.delete(part);
      have = 0;
    }
    MessageDigest md = Digest.sha256();
    byte[] header = new byte[0];
    long streamed;
    try (FileChannel out = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        DirectFile direct = directWrites ? DirectFile.open(part) : null) {
      if (direct != null && have > 0 && have < size) {
        have = direct.alignDown(have); // direct writes start on a block boundary
      }
      long from = have > 0 ? off + have : 0;
      if (have > 0) {
        try (InputStream in = src.openBlob(d, 0, off)) {
          header = in.readNBytes((int) off);
        }
        if (header.length != off) {
          throw new IOException(where + ": the registry sent " + header.length + " of the header's " + off + " bytes");
        }
        md.update(header);
        ModelPuller.hashPrefix(part, have, md);
        report.accept(new Progress(f.path(), from, layer.size(), done.addAndGet(from), total, false));
      }
      out.truncate(have);
      try (InputStream in = src.openBlob(d, from, layer.size() - from)) {
        ReadableByteChannel ch = in instanceof ReadableByteChannel c ? c : Channels.newChannel(in);
        long[] at = {from};
        LongConsumer progress = n -> {
          at[0] += n;
          report.accept(new Progress(f.path(), at[0], layer.size(), done.addAndGet(n), total, false));
        };
        if (have == 0) {
          header = hashAll(new LimitedChannel(ch, off), md, progress, true);
        }
        BlobFileWriter writer = new BlobFileWriter(out, direct, md, flusher);
        long wrote = writer.copy(new LimitedChannel(ch, size - have), have, progress);
        if (directWrites && (direct == null || writer.directRefused())) {
          ModelPuller.warnBuffered(partialDir);
        }
        hashAll(ch, md, progress, false); // the padding and end-of-archive blocks
        // A stream that ended early left the content short: that fails below, whatever it hashed to.
        streamed = have + wrote == size && header.length == off ? at[0] : -1;
      }
      out.force(true);
    }
    Digest got = Digest.of(md);
    if (streamed != layer.size() || !got.equals(d)) {
      Files.deleteIfExists(part);
      throw ModelCacheException.digestMismatch(art.ref() + ": layer " + d + " failed verification (got " + got + ")");
    }
    if (!sameEntry(header, off, size)) {
      Files.deleteIfExists(part);
      throw ModelCacheException.invalid(where + ": cannot extract: the verified tar header does not give the entry"
          + " at " + off + " of " + size + " bytes the layer was read with");
    }
    return part;
  }

  /**
   * Whether the tar header blocks {@code header} ({@code [0, off)} of the layer) lead to a regular
   * entry at {@code off} of {@code size} bytes, past any entries before it (a directory layer's
   * directory entries).
   */
  static boolean sameEntry(byte[] header, long off, long size) {
    TarStreamReader tr = new TarStreamReader(new java.io.ByteArrayInputStream(header));
    try {
      for (TarEntry e = tr.next(); e != null && e.contentOffset() <= off; e = tr.next()) {
        if (e.contentOffset() == off) {
          return e.isRegular() && e.size() == size;
        }
      }
    } catch (IOException | TarFormatException e) {
      // headers that do not parse cannot be the entry the layer was read with
    }
    return false;
  }

  /** Reads {@code ch} to its end into {@code md}; returns the bytes when {@code keep}, else null. */
  private static byte[] hashAll(ReadableByteChannel ch, MessageDigest md, LongConsumer progress, boolean keep)
      throws IOException {
    java.io.ByteArrayOutputStream kept = keep ? new java.io.ByteArrayOutputStream() : null;
    ByteBuffer buf = ByteBuffer.allocate(64 << 10);
    while (true) {
      buf.clear();
      int r = ch.read(buf);
      if (r < 0) {
        break;
      }
      buf.flip();
      md.update(buf.array(), 0, r);
      if (kept != null) {
        kept.write(buf.array(), 0, r);
      }
      progress.accept(r);
    }
    return kept == null ? null : kept.toByteArray();
  }
}
