package io.modelcache.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelcache.control.ControlClient;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.time.Duration;

/**
 * Follows a daemon warm job (started by {@code pull REF} or {@code mount --wait-full}) by polling
 * its progress a few times a second, until it is done, failed, or the wait's bound passed. The
 * daemon keeps warming if the CLI goes away.
 */
final class WarmWait {
  static final long POLL_MILLIS = 250;

  private WarmWait() {}

  /** Returns the job's final progress; throws its one-line error when it failed. */
  static JsonNode await(ControlClient client, JsonNode started, Progress progress, Duration timeout)
      throws ModelCacheException, InterruptedException {
    long id = started.path("job").asLong();
    long deadline = System.nanoTime() + timeout.toNanos();
    JsonNode p = started;
    while (true) {
      String state = p.path("state").asText();
      progress.update(p.path("cachedBytes").asLong(), p.path("totalBytes").asLong(),
          p.path("rateBytesPerSec").asDouble());
      if (state.equals("DONE")) {
        return p;
      }
      if (state.equals("FAILED")) {
        progress.abandon();
        throw new ModelCacheException(kind(p.path("kind").asText()), p.path("error").asText("warming failed"));
      }
      if (System.nanoTime() > deadline) {
        progress.abandon();
        throw new ModelCacheException(Kind.IO, "gave up waiting after " + timeout.toSeconds() + " s for "
            + p.path("reference").asText() + " to be cached (" + Progress.stats(p.path("cachedBytes").asLong(),
                p.path("totalBytes").asLong(), p.path("rateBytesPerSec").asDouble())
            + "); the daemon keeps warming it");
      }
      Thread.sleep(POLL_MILLIS);
      p = client.call(ControlClient.request("progress").put("job", id));
    }
  }

  private static Kind kind(String name) {
    try {
      return Kind.valueOf(name);
    } catch (IllegalArgumentException e) {
      return Kind.IO;
    }
  }
}
