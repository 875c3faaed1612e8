package io.modelcache.access;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import org.junit.jupiter.api.Test;

class ProcStatusTest {
  static final String STATUS = "Name:\tjava\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n"
      + "Uid:\t1001\t1001\t1001\t1001\nGid:\t100\t100\t100\t100\nFDSize:\t256\nGroups:\t100 990 4294967294 \n";

  @Test
  void readsTheSupplementaryGroupsOfTheCallersUid() {
    assertEquals(Set.of(100, 990, -2), ProcStatus.groups(STATUS, 1001));
  }

  @Test
  void aReusedPidOfAnotherUserGivesNoGroups() {
    assertEquals(Set.of(), ProcStatus.groups(STATUS, 1002));
  }

  @Test
  void noGroupsLineOrAnEmptyOneGivesNone() {
    assertEquals(Set.of(), ProcStatus.groups("Uid:\t1001\t1001\t1001\t1001\n", 1001));
    assertEquals(Set.of(), ProcStatus.groups("Uid:\t1001\t1001\t1001\t1001\nGroups:\t\n", 1001));
  }
}
