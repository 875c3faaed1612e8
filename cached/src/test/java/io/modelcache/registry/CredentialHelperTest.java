package io.modelcache.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.modelcache.error.ModelCacheException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** credHelpers and credsStore with real helper programs (shell scripts on a PATH of the test's own). */
class CredentialHelperTest {
  @TempDir Path dir;

  private Path bin() throws Exception {
    return Files.createDirectories(dir.resolve("bin"));
  }

  private void helper(String name, String script) throws Exception {
    Path p = bin().resolve("docker-credential-" + name);
    Files.writeString(p, "#!/bin/sh\n" + script);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
  }

  private DockerConfig config(String json) throws Exception {
    Path f = dir.resolve("config.json");
    Files.writeString(f, json);
    return DockerConfig.load(f, bin() + ":/usr/bin:/bin");
  }

  @Test
  void credHelperForTheHostAnswersWithWhatItReadOnStdin() throws Exception {
    helper("corp", "[ \"$1\" = get ] || exit 9\ncat > \"" + dir.resolve("asked") + "\"\n"
        + "printf '{\"ServerURL\":\"reg.example:5000\",\"Username\":\"svc\",\"Secret\":\"s3cr3t\"}'\n");
    DockerConfig c = config("{\"credHelpers\":{\"https://reg.example:5000\":\"corp\"},"
        + "\"auths\":{\"reg.example:5000\":{\"auth\":\"" + b64("file:user") + "\"}}}");
    assertEquals(Optional.of(new Credentials("svc", "s3cr3t")), c.lookup("reg.example:5000"));
    assertEquals("reg.example:5000", Files.readString(dir.resolve("asked")));
    assertEquals(Optional.of(new Credentials("file", "user")), config("{\"auths\":{\"reg.example:5000\":{\"auth\":\""
        + b64("file:user") + "\"}}}").lookup("reg.example:5000"));
  }

  @Test
  void credsStoreFirstThenTheFileWhenItHasNothing() throws Exception {
    helper("store", "read host\nif [ \"$host\" = a.example ]; then\n"
        + "  printf '{\"ServerURL\":\"a.example\",\"Username\":\"<token>\",\"Secret\":\"refresh-1\"}'; exit 0\nfi\n"
        + "echo 'credentials not found in native keychain'; exit 1\n");
    DockerConfig c = config("{\"credsStore\":\"store\",\"auths\":{\"b.example\":{\"auth\":\"" + b64("bob:pw") + "\"}}}");
    Credentials a = c.lookup("a.example").orElseThrow();
    assertTrue(a.isIdentityToken());
    assertEquals("refresh-1", a.password());
    assertEquals(Optional.of(new Credentials("bob", "pw")), c.lookup("b.example"));
    assertEquals(Optional.empty(), c.lookup("c.example"));
  }

  @Test
  void missingOrFailingHelperIsOneLineWithoutWhatItPrinted() throws Exception {
    helper("broken", "echo 'token=leaked-secret'; echo 'leaked-secret' >&2; exit 3\n");
    helper("garbled", "echo 'not json leaked-secret'\n");
    ModelCacheException missing = assertThrows(ModelCacheException.class,
        () -> config("{\"credHelpers\":{\"reg.example\":\"nope\"}}").lookup("reg.example"));
    assertEquals("reg.example: credential helper docker-credential-nope not found on PATH", missing.getMessage());
    assertEquals(ModelCacheException.Kind.AUTH, missing.kind());
    ModelCacheException failed = assertThrows(ModelCacheException.class,
        () -> config("{\"credsStore\":\"broken\"}").lookup("reg.example"));
    assertEquals("reg.example: credential helper docker-credential-broken failed (exit 3)", failed.getMessage());
    ModelCacheException garbled = assertThrows(ModelCacheException.class,
        () -> config("{\"credsStore\":\"garbled\"}").lookup("reg.example"));
    assertEquals("reg.example: credential helper docker-credential-garbled answered no credentials JSON",
        garbled.getMessage());
    assertFalse(failed.getMessage().contains("leaked") || garbled.getMessage().contains("leaked"));
    ModelCacheException badName = assertThrows(ModelCacheException.class,
        () -> config("{\"credsStore\":\"../../bin/sh\"}").lookup("reg.example"));
    assertEquals("reg.example: credential helper name '../../bin/sh' is not valid", badName.getMessage());
  }

  @Test
  void identityTokenEntryInTheFile() throws Exception {
    Credentials c = config("{\"auths\":{\"r.example\":{\"auth\":\"" + b64("alice:") + "\",\"identitytoken\":\"rt\"}}}")
        .lookup("r.example").orElseThrow();
    assertTrue(c.isIdentityToken());
    assertEquals("rt", c.password());
    assertFalse(c.toString().contains("rt]"));
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes());
  }
}
