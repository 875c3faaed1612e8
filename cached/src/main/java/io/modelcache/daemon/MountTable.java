package io.modelcache.daemon;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The daemon's mount table ({@code <state>/mounts.json}): every live mount with the manifest digest
 * it was pinned at, restored (or taken over) at the next start, so a moved tag never changes the
 * files under a running server. Replaced atomically; the daemon writes it under its own lock.
 */
final class MountTable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path file;

  MountTable(Path file) {
    this.file = file;
  }

  /** The records of the last write; null when there is no table yet. */
  List<MountRecord> read() throws IOException {
    if (!Files.exists(file)) {
      return null;
    }
    return JSON.readValue(file.toFile(), new TypeReference<List<MountRecord>>() {});
  }

  /** Replaces the table with {@code records} (a reader sees the old or the new table, never half). */
  void write(List<MountRecord> records) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.write(tmp, JSON.writeValueAsBytes(records));
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
