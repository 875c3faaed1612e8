package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.error.ModelCacheException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DockerConfigTest {
  @TempDir Path dir;

  @Test
  void readsAuthAndUsernamePasswordEntries() throws Exception {
    Path f = dir.resolve("config.json");
    String auth = Base64.getEncoder().encodeToString("bob:pa:ss".getBytes());
    Files.writeString(f, "{\"auths\":{\"https://reg.example:5000/v1/\":{\"auth\":\"" + auth + "\"},"
        + "\"other.example\":{\"username\":\"carol\",\"password\":\"pw\"},"
        + "\"https://index.docker.io/v1/\":{\"auth\":\"" + auth + "\"}}}");
    DockerConfig c = DockerConfig.load(f);
    assertEquals(new Credentials("bob", "pa:ss"), c.lookup("reg.example:5000").orElseThrow());
    assertEquals(new Credentials("carol", "pw"), c.lookup("OTHER.example").orElseThrow());
    assertTrue(c.lookup("reg.example").isEmpty());
    assertEquals(new Credentials("bob", "pa:ss"), c.lookup("docker.io").orElseThrow());
    assertTrue(DockerConfig.load(dir.resolve("missing.json")).lookup("reg.example:5000").isEmpty());
  }

  @Test
  void malformedIsAUsageError() throws Exception {
    Path f = dir.resolve("config.json");
    Files.writeString(f, "{not json");
    ModelCacheException e = org.junit.jupiter.api.Assertions.assertThrows(ModelCacheException.class,
        () -> DockerConfig.load(f));
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
  }

  @Test
  void storeKeepsOtherEntriesAndIsPrivate() throws Exception {
    Path f = dir.resolve("new/.docker/config.json");
    DockerConfig.store(f, "a.example", "u1", "p1");
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f.getParent())));
    var json = new ObjectMapper().readTree(f.toFile());
    ((com.fasterxml.jackson.databind.node.ObjectNode) json).putObject("credHelpers").put("other.example", "keep-me");
    Files.write(f, new ObjectMapper().writeValueAsBytes(json));
    DockerConfig.store(f, "b.example:5000", "u2", "p2");
    DockerConfig.store(f, "a.example", "u1", "changed");
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    DockerConfig c = DockerConfig.load(f);
    assertEquals(new Credentials("u1", "changed"), c.lookup("a.example").orElseThrow());
    assertEquals(new Credentials("u2", "p2"), c.lookup("b.example:5000").orElseThrow());
    assertEquals("keep-me", new ObjectMapper().readTree(f.toFile()).path("credHelpers").path("other.example").asText());
    try (var s = Files.list(f.getParent())) {
      assertEquals(1, s.count(), "no temp files left behind");
    }
  }

  @Test
  void storeNeverReplacesAFileItCannotReadAsADockerConfig() throws Exception {
    Path yaml = dir.resolve("config.yaml");
    Files.writeString(yaml, "cache:\n  size: 1G\n");
    ModelCacheException e = org.junit.jupiter.api.Assertions.assertThrows(ModelCacheException.class,
        () -> DockerConfig.store(yaml, "h:1", "u", "p"));
    assertEquals(ModelCacheException.Kind.USAGE, e.kind());
    assertEquals(yaml + ": not a Docker config (invalid JSON at line 1, column 1); nothing written", e.getMessage());
    assertEquals("cache:\n  size: 1G\n", Files.readString(yaml));
    Path array = dir.resolve("array.json");
    Files.writeString(array, "[1, 2]");
    assertEquals(array + ": not a Docker config (not a JSON object); nothing written",
        org.junit.jupiter.api.Assertions.assertThrows(ModelCacheException.class,
            () -> DockerConfig.store(array, "h:1", "u", "p")).getMessage());
    assertEquals("[1, 2]", Files.readString(array));
    assertEquals(dir + ": is a directory, not a Docker config file",
        org.junit.jupiter.api.Assertions.assertThrows(ModelCacheException.class,
            () -> DockerConfig.store(dir, "h:1", "u", "p")).getMessage());
  }

  @Test
  void credentialsHidePassword() {
    Credentials c = new Credentials("alice", "hunter2");
    assertFalse(c.toString().contains("hunter2"));
    assertTrue(c.toString().contains("alice"));
    assertEquals("Basic " + Base64.getEncoder().encodeToString("alice:hunter2".getBytes()), c.basicHeader());
  }
}
