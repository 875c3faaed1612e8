package io.modelcache.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.error.ModelCacheException;
import io.modelcache.error.ModelCacheException.Kind;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A docker credential helper, {@code docker-credential-<name> get}, as docker and containerd run it: the
 * server address on stdin, {@code {"ServerURL","Username","Secret"}} on stdout; exit 1 with
 * "credentials not found" when it has none. Nothing the helper prints is ever logged or put in a
 * message (not even its errors, which may quote what it read). One process per call; thread-safe.
 */
final class CredentialHelper {
  static final long TIMEOUT_SECONDS = 30;
  private static final int MAX_OUTPUT = 1 << 20;
  private static final ObjectMapper JSON = new ObjectMapper();

  private CredentialHelper() {}

  /** The helper's credentials for {@code host}, empty when it has none. {@code path}: the PATH to search. */
  static Optional<Credentials> get(String name, String host, String path) throws ModelCacheException {
    String program = "docker-credential-" + name;
    if (!name.matches("[A-Za-z0-9._-]+")) {
      throw new ModelCacheException(Kind.USAGE, host + ": credential helper name '" + name + "' is not valid");
    }
    Path exe = find(program, path);
    if (exe == null) {
      throw new ModelCacheException(Kind.AUTH, host + ": credential helper " + program + " not found on PATH");
    }
    Process p;
    try {
      p = new ProcessBuilder(exe.toString(), "get").redirectError(ProcessBuilder.Redirect.DISCARD).start();
    } catch (IOException e) {
      throw new ModelCacheException(Kind.AUTH, host + ": credential helper " + program + " cannot be run ("
          + e.getClass().getSimpleName() + ")");
    }
    try {
      try (OutputStream in = p.getOutputStream()) {
        in.write(host.getBytes(StandardCharsets.UTF_8));
      } catch (IOException helperClosedStdin) {
        // it may not read stdin at all; its exit status tells
      }
      byte[] out;
      try (InputStream o = p.getInputStream()) {
        out = o.readNBytes(MAX_OUTPUT);
      }
      if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        throw new ModelCacheException(Kind.AUTH,
            host + ": credential helper " + program + " did not answer within " + TIMEOUT_SECONDS + " s");
      }
      String text = new String(out, StandardCharsets.UTF_8).trim();
      if (p.exitValue() != 0) {
        if (text.toLowerCase(java.util.Locale.ROOT).contains("credentials not found")) {
          return Optional.empty();
        }
        throw new ModelCacheException(Kind.AUTH,
            host + ": credential helper " + program + " failed (exit " + p.exitValue() + ")");
      }
      JsonNode n;
      try {
        n = JSON.readTree(text);
      } catch (IOException e) {
        n = null;
      }
      if (n == null || !n.isObject()) {
        throw new ModelCacheException(Kind.AUTH, host + ": credential helper " + program + " answered no credentials JSON");
      }
      String user = n.path("Username").asText("");
      String secret = n.path("Secret").asText("");
      if (secret.isEmpty()) {
        return Optional.empty();
      }
      return Optional.of(new Credentials(user, secret));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ModelCacheException(Kind.AUTH, host + ": interrupted while running credential helper " + program);
    } catch (ModelCacheException e) {
      throw e;
    } catch (IOException e) {
      throw new ModelCacheException(Kind.AUTH, host + ": credential helper " + program + " cannot be read ("
          + e.getClass().getSimpleName() + ")");
    } finally {
      p.destroyForcibly();
    }
  }

  private static Path find(String program, String path) {
    if (path == null) {
      return null;
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (dir.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(dir, program);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }
}
