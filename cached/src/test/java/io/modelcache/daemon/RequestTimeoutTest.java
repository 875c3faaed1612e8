package io.modelcache.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.modelcache.config.Settings;
import io.modelcache.config.YamlTree;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The FUSE request timeout a daemon asks for: never reached by a normal restart or a slow read. */
class RequestTimeoutTest {
  private static int timeout(String yaml) throws Exception {
    return FuseSetup.requestTimeoutSeconds(Settings.defaults(Path.of("/var/lib/modelcache"))
        .apply(YamlTree.parse("config.yaml", yaml)));
  }

  @Test
  void atLeastHalfAnHourAndAMinuteBeyondTheGraceOrTheFetchTimeoutCappedAtTheProtocolsU16() throws Exception {
    assertEquals(1800, timeout("restart:\n  grace: 5s\n"), "defaults and short graces: the 30 min floor");
    assertEquals(1800, timeout(""));
    assertEquals(2 * 3600 + 60, timeout("restart:\n  grace: 2h\n"));
    assertEquals(3600 + 60, timeout("fetch:\n  timeout: 1h\n"));
    assertEquals(65535, timeout("restart:\n  grace: 20h\n"), "fuse_init_out.request_timeout is a u16");
  }
}
