package io.modelcache.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcache.error.ModelCacheException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Credentials from a Docker {@code config.json}: {@code auths.<host>.auth} (base64 of user:password)
 * or {@code auths.<host>.username}/{@code password} (or {@code identitytoken}). Keys may carry a scheme or
 * path ({@code https://host/v1/}); they are matched on host[:port]. Credential helpers as docker uses
 * them: {@code credHelpers.<host>} names the only source for that host, else {@code credsStore} is asked
 * first and the {@code auths} entry is the fallback when it has nothing.
 */
public final class DockerConfig {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private final Path file;
  private final JsonNode root;
  private final String path;

  private DockerConfig(Path file, JsonNode root, String path) {
    this.file = file;
    this.root = root;
    this.path = path;
  }

  /** $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
  public static Path defaultPath() {
    String dir = System.getenv("DOCKER_CONFIG");
    if (dir != null && !dir.isBlank()) {
      return Path.of(dir, "config.json");
    }
    return Path.of(System.getProperty("user.home"), ".docker", "config.json");
  }

  /** Loads the file; a missing file is an empty config, a malformed one a USAGE error. */
  public static DockerConfig load(Path file) throws ModelCacheException {
    return load(file, System.getenv("PATH"));
  }

  /** As {@link #load(Path)}, with credential helpers searched for on {@code path}. */
  static DockerConfig load(Path file, String path) throws ModelCacheException {
    if (file == null || !Files.isRegularFile(file)) {
      return new DockerConfig(file, JSON.createObjectNode(), path);
    }
    try {
      JsonNode n = JSON.readTree(Files.readAllBytes(file));
      return new DockerConfig(file, n == null || !n.isObject() ? JSON.createObjectNode() : n, path);
    } catch (IOException e) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          file + ": cannot read docker config (" + e.getClass().getSimpleName() + ")");
    }
  }

  public Path file() {
    return file;
  }

  /**
   * Credentials for {@code host} (host[:port]), if any: from its credential helper, the credentials
   * store or the file. A helper that is missing or fails is an AUTH error naming the host and helper.
   */
  public Optional<Credentials> lookup(String host) throws ModelCacheException {
    String want = host.toLowerCase(Locale.ROOT);
    String helper = helperFor(want);
    if (helper != null) {
      return CredentialHelper.get(helper, host, path);
    }
    String store = root.path("credsStore").asText("").trim();
    if (!store.isEmpty()) {
      Optional<Credentials> c = CredentialHelper.get(store, host, path);
      if (c.isPresent()) {
        return c;
      }
    }
    return lookupFile(want);
  }

  private String helperFor(String want) {
    JsonNode helpers = root.path("credHelpers");
    if (!helpers.isObject()) {
      return null;
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = helpers.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (normalizeKey(e.getKey()).equals(want) && !e.getValue().asText("").isBlank()) {
        return e.getValue().asText().trim();
      }
    }
    return null;
  }

  private Optional<Credentials> lookupFile(String want) {
    if (want.equals("docker.io") || want.equals("registry-1.docker.io")) {
      // docker login stores Docker Hub under its legacy index address.
      Optional<Credentials> hub = lookupExact("index.docker.io");
      if (hub.isPresent()) {
        return hub;
      }
    }
    return lookupExact(want);
  }

  private Optional<Credentials> lookupExact(String want) {
    JsonNode auths = root.path("auths");
    if (!auths.isObject()) {
      return Optional.empty();
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = auths.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!normalizeKey(e.getKey()).equals(want)) {
        continue;
      }
      Optional<Credentials> c = decode(e.getValue());
      if (c.isPresent()) {
        return c;
      }
    }
    return Optional.empty();
  }

  static String normalizeKey(String key) {
    String k = key.trim().toLowerCase(Locale.ROOT);
    int scheme = k.indexOf("://");
    if (scheme >= 0) {
      k = k.substring(scheme + 3);
    }
    int slash = k.indexOf('/');
    if (slash >= 0) {
      k = k.substring(0, slash);
    }
    return k;
  }

  private static Optional<Credentials> decode(JsonNode entry) {
    String identity = entry.path("identitytoken").asText("");
    if (!identity.isEmpty()) {
      return Optional.of(Credentials.identityToken(identity));
    }
    String auth = entry.path("auth").asText("");
    if (!auth.isEmpty()) {
      try {
        String s = new String(Base64.getDecoder().decode(auth.trim()), StandardCharsets.UTF_8);
        int colon = s.indexOf(':');
        if (colon > 0) {
          return Optional.of(new Credentials(s.substring(0, colon), s.substring(colon + 1)));
        }
      } catch (IllegalArgumentException badBase64) {
        // fall through to username/password
      }
    }
    String user = entry.path("username").asText("");
    String pass = entry.path("password").asText("");
    if (!user.isEmpty()) {
      return Optional.of(new Credentials(user, pass));
    }
    return Optional.empty();
  }

  /**
   * Writes {@code auths.<host>.auth} into {@code configFile}, keeping every other entry. The file is
   * written with mode 0600 (atomically via a temp file); a new parent directory gets 0700.
   */
  public static void store(Path configFile, String host, String user, String password) throws IOException {
    Path parent = configFile.toAbsolutePath().getParent();
    if (!Files.isDirectory(parent)) {
      Files.createDirectories(parent);
      trySetMode(parent, "rwx------");
    }
    if (Files.isDirectory(configFile)) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, configFile + ": is a directory, not a Docker config file");
    }
    ObjectNode root;
    if (Files.isRegularFile(configFile)) {
      // Never replace a file this cannot read as a Docker config: it may hold the user's other settings.
      JsonNode n;
      try {
        n = JSON.readTree(Files.readAllBytes(configFile));
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        var at = e.getLocation();
        throw new ModelCacheException(ModelCacheException.Kind.USAGE, configFile + ": not a Docker config (invalid JSON"
            + (at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr()) + "); nothing written");
      }
      if (n != null && !n.isObject()) {
        throw new ModelCacheException(ModelCacheException.Kind.USAGE,
            configFile + ": not a Docker config (not a JSON object); nothing written");
      }
      root = n instanceof ObjectNode o ? o : JSON.createObjectNode();
    } else {
      root = JSON.createObjectNode();
    }
    JsonNode auths = root.get("auths");
    ObjectNode authsObj = auths instanceof ObjectNode o ? o : root.putObject("auths");
    ObjectNode entry = authsObj.putObject(host);
    entry.put("auth", Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
    Path tmp = Files.createTempFile(parent, ".config.json", ".tmp");
    try {
      trySetMode(tmp, "rw-------");
      Files.write(tmp, JSON.writeValueAsBytes(root));
      Files.move(tmp, configFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      trySetMode(configFile, "rw-------");
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static void trySetMode(Path p, String mode) throws IOException {
    try {
      Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
    } catch (UnsupportedOperationException notPosix) {
      // Non-POSIX file systems keep their default ACLs.
    }
  }
}
