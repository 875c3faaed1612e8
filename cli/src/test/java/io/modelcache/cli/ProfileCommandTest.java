package io.modelcache.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.modelcache.oci.Digest;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code profile import} checks its file before it needs a daemon; errors are one line with an exit code. */
class ProfileCommandTest {
  @TempDir Path tmp;
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Main.run(args, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
  }

  @Test
  void importOfAMissingOrMalformedFileFailsBeforeTheDaemon() throws Exception {
    Path home = tmp.resolve("home");
    Path missing = tmp.resolve("nope.profile");
    assertEquals(3, run("profile", "import", "--home", home.toString(), missing.toString()));
    assertEquals("modelcache: " + missing + ": no such file", err.toString().strip());

    err.getBuffer().setLength(0);
    Path bad = Files.writeString(tmp.resolve("bad.profile"),
        "modelcache-profile 1\nmanifest " + Digest.of(new byte[] {1}) + "\nchunk 4096\n");
    assertEquals(2, run("profile", "import", "--home", home.toString(), bad.toString()));
    assertEquals("modelcache: " + bad + ": access profile has no entries", err.toString().strip());

    err.getBuffer().setLength(0);
    Path good = Files.writeString(tmp.resolve("good.profile"),
        "modelcache-profile 1\nmanifest " + Digest.of(new byte[] {1}) + "\nchunk 4096\n0\ta.safetensors\n");
    assertEquals(9, run("profile", "import", "--home", home.toString(), good.toString()));
    assertEquals("modelcache: no daemon is running (no control socket at " + home.resolve("modelcache.sock")
        + "); start one with 'modelcache daemon --home " + home + "' or 'systemctl start modelcache'", err.toString().strip());
  }

  @Test
  void onlyAnExistingDirectoryIsSentAsAMountpoint() throws Exception {
    Files.createDirectories(tmp.resolve("x"));
    assertEquals(tmp.toString(), ProfileCommand.existingDir(tmp.resolve("x/..").toString()));
    assertNull(ProfileCommand.existingDir(tmp.resolve("y").toString()));
    assertNull(ProfileCommand.existingDir("127.0.0.1:5000/models/m:v1"));
    assertNull(ProfileCommand.existingDir("sha256:" + "0".repeat(64)));
  }

  @Test
  void profileWithoutASubcommandIsAUsageError() {
    assertEquals(2, run("profile"));
  }
}
