package io.modelcache.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the built launcher, {@code cli/target/modelcache}, as a user would, with a bounded wait. */
final class Cli {
  /** What a finished command left behind. */
  record Result(int exit, String out, String err) {
    String errLine() {
      return err.strip();
    }
  }

  static Path launcher() {
    String p = System.getProperty("modelcache.launcher");
    Path l = p != null ? Path.of(p) : Path.of("target/modelcache");
    if (!Files.isExecutable(l)) {
      throw new IllegalStateException("launcher " + l + " missing: run the package phase first");
    }
    return l;
  }

  static Result run(long timeoutSeconds, String... args) throws IOException, InterruptedException {
    return run(java.util.Map.of(), null, timeoutSeconds, args);
  }

  /** Runs with extra environment variables and optional standard input. */
  static Result run(java.util.Map<String, String> env, String stdin, long timeoutSeconds, String... args)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(launcher().toString());
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile("mc-out", ".txt");
    Path err = Files.createTempFile("mc-err", ".txt");
    try {
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
      pb.environment().putAll(env);
      Process p = pb.start();
      try (var in = p.getOutputStream()) {
        if (stdin != null) {
          in.write(stdin.getBytes(StandardCharsets.UTF_8));
        }
      }
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError("timed out after " + timeoutSeconds + " s: " + cmd);
      }
      return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  static Result ok(String... args) throws IOException, InterruptedException {
    Result r = run(180, args);
    if (r.exit() != 0) {
      throw new AssertionError("modelcache " + String.join(" ", args) + " exited " + r.exit() + ": " + r.err());
    }
    return r;
  }
}
