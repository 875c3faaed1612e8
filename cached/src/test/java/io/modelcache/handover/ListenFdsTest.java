package io.modelcache.handover;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.modelcache.handover.ListenFds.Passed;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ListenFdsTest {
  @Test
  void namedDescriptorsStartAtThree() {
    assertEquals(List.of(new Passed("fuse-a", 3), new Passed("fuse-b", 4), new Passed("unknown", 5)),
        ListenFds.parse(Map.of("LISTEN_PID", "42", "LISTEN_FDS", "3", "LISTEN_FDNAMES", "fuse-a:fuse-b"), 42));
    assertEquals(List.of(new Passed("unknown", 3)), ListenFds.parse(Map.of("LISTEN_PID", "42", "LISTEN_FDS", "1"), 42));
  }

  @Test
  void descriptorsMeantForAnotherProcessAreNotOurs() {
    assertEquals(List.of(), ListenFds.parse(Map.of("LISTEN_PID", "41", "LISTEN_FDS", "2"), 42));
    assertEquals(List.of(), ListenFds.parse(Map.of("LISTEN_FDS", "2"), 42));
    assertEquals(List.of(), ListenFds.parse(Map.of("LISTEN_PID", "x", "LISTEN_FDS", "2"), 42));
    assertEquals(List.of(), ListenFds.parse(Map.of("LISTEN_PID", "42", "LISTEN_FDS", "0"), 42));
    assertEquals(List.of(), ListenFds.parse(Map.of(), 42));
  }
}
