package io.modelcache.daemon;

import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcache.registry.RegistryOptions;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The preparation steps that need nothing of the machine succeed (FUSE needs libfuse: not asserted). */
class FirstMountPrepTest {
  @TempDir Path tmp;

  @Test
  void registryExchangeWithTheLoopbackStandInAndJsonSucceed() {
    List<String> failed = FirstMountPrep.prepare(
        RegistryOptions.defaults().withDockerConfig(tmp.resolve("no-docker-config.json")), new ObjectMapper(),
        io.modelcache.fuse.FuseTransport.jnr());
    assertFalse(failed.contains("registry client"), failed.toString());
    assertFalse(failed.contains("JSON"), failed.toString());
    assertFalse(failed.contains("virtual threads"), failed.toString());
  }
}
