package io.modelcache.modelpack;

import io.modelcache.safetensors.SafetensorsFormatException;
import io.modelcache.safetensors.SafetensorsHeader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * {@code push --align}: pads a safetensors header with spaces (which the format allows at the end of
 * the JSON, counted by the 8-byte length) so the data section starts on an {@code align} boundary.
 * Tensors then begin at the same page offsets in the file as in memory, which lets an mmap of the
 * mounted file fault whole pages of one tensor. Tensor bytes and offsets relative to the data start
 * are unchanged; only the header length, and so the file's size and digest, change.
 */
final class SafetensorsAlign {
  private SafetensorsAlign() {}

  /** The new leading bytes (length, JSON, padding) that replace the first {@code replaced} bytes. */
  record Aligned(byte[] prefix, long replaced) {
    long padding() {
      return prefix.length - replaced;
    }

    /** The padded file: the new prefix, then the original file from {@code replaced} on. */
    InputStream open(Path file) throws IOException {
      InputStream rest = java.nio.file.Files.newInputStream(file);
      try {
        rest.skipNBytes(replaced);
      } catch (IOException e) {
        rest.close();
        throw e;
      }
      return new SequenceInputStream(new ByteArrayInputStream(prefix), rest);
    }
  }

  /**
   * The padding plan for {@code file}, or null to push it unchanged: not a valid safetensors file
   * (it is never touched then), already aligned, or alignment off.
   */
  static Aligned plan(Path file, long size, long align) throws IOException {
    if (align <= 1 || size < 8) {
      return null;
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, len, 0);
      long n = len.getLong(0);
      if (n < 0 || n >= SafetensorsHeader.MAX_HEADER || 8 + n > size) {
        return null;
      }
      ByteBuffer head = ByteBuffer.allocate((int) (8 + n));
      readFully(ch, head, 0);
      try {
        SafetensorsHeader.parse(head.array(), size);
      } catch (SafetensorsFormatException e) {
        return null;
      }
      long dataStart = 8 + n;
      long pad = (align - dataStart % align) % align;
      if (pad == 0 || n + pad >= SafetensorsHeader.MAX_HEADER) {
        return null;
      }
      byte[] prefix = Arrays.copyOf(head.array(), (int) (dataStart + pad));
      Arrays.fill(prefix, (int) dataStart, prefix.length, (byte) ' ');
      ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n + pad);
      return new Aligned(prefix, dataStart);
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b, pos + b.position()) < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }
}
