package io.modelcache.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Child processes with bounded waits, timed from just before start to exit. Stateless. */
final class Procs {
  private Procs() {}

  /** A finished command: exit code, merged output, wall seconds. */
  record Result(int exit, String output, double seconds) {}

  /** Runs {@code cmd} (output merged, kept in memory); fails on timeout, never on a nonzero exit. */
  static Result run(long timeoutSeconds, List<String> cmd) throws IOException {
    Path out = Files.createTempFile("mc-bench", ".out");
    try {
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
      pb.environment().remove("MODELCACHE_HOME");
      long t0 = System.nanoTime();
      Process p = pb.start();
      try {
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
          p.descendants().forEach(ProcessHandle::destroyForcibly);
          p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
          throw new IOException("timed out after " + timeoutSeconds + " s: " + String.join(" ", cmd));
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IOException("interrupted: " + String.join(" ", cmd), e);
      }
      double s = (System.nanoTime() - t0) / 1e9;
      return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), s);
    } finally {
      Files.deleteIfExists(out);
    }
  }

  /** Like {@link #run} but a nonzero exit is an error naming the command and its output. */
  static Result ok(long timeoutSeconds, List<String> cmd) throws IOException {
    Result r = run(timeoutSeconds, cmd);
    if (r.exit() != 0) {
      String o = r.output().strip();
      throw new IOException(String.join(" ", cmd) + " exited " + r.exit() + ": "
          + (o.length() > 2000 ? o.substring(o.length() - 2000) : o));
    }
    return r;
  }

  static Result bash(long timeoutSeconds, String script) throws IOException {
    return ok(timeoutSeconds, List.of("bash", "-c", "set -euo pipefail; " + script));
  }

  /** Quotes a path or word for bash. */
  static String q(Object s) {
    return "'" + s.toString().replace("'", "'\\''") + "'";
  }
}
