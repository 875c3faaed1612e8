package io.modelcache.access;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import org.junit.jupiter.api.Test;

class AccessPolicyTest {
  static final int GROUP = 990;
  static final int ADMINS = 991;
  final AccessPolicy open = new AccessPolicy(new Rules("modelcache", GROUP, "mcadmin", ADMINS, false));
  final AccessPolicy rootOnly = new AccessPolicy(Rules.rootOnly(true));
  final Caller root = Caller.root(1);
  final Caller alice = new Caller(42, 1001, 100, Set.of(GROUP));
  final Caller bob = new Caller(43, 1002, 100, Set.of());
  final Caller admin = new Caller(44, 1003, ADMINS, Set.of());
  final Mountpoint hers = new Mountpoint("/data/alice/m", true, false, true, 1001, true, true);

  static void denied(String line, Decision d) {
    assertEquals(Decision.deny(line), d);
  }

  @Test
  void rootMayDoEverything() {
    for (String op : new String[] {"mount", "umount", "cache-gc", "cache-evict", "profile-import", "reload"}) {
      assertEquals(Decision.ALLOW, open.operation(root, op), op);
      assertEquals(Decision.ALLOW, rootOnly.operation(root, op), op);
    }
    assertEquals(Decision.ALLOW, open.mount(root, "oci:/srv/layout", true,
        new Mountpoint("/etc/x", true, true, false, 0, false, false)));
    assertEquals(Decision.ALLOW, open.umount(root, "/data/alice/m", 1001));
  }

  @Test
  void aDaemonThatIsNotRootLetsItsOwnUserDoWhatRootMay() {
    AccessPolicy asAlice = new AccessPolicy(Rules.rootOnly(false), 1001);
    for (String op : new String[] {"mount", "umount", "warm", "cache-gc", "profile-import"}) {
      assertEquals(Decision.ALLOW, asAlice.operation(alice, op), op);
    }
    assertEquals(Decision.ALLOW, asAlice.mount(alice, "reg.example.com/m:v1", null, hers));
    assertEquals(Decision.ALLOW, asAlice.umount(alice, "/data/x", 0));
    assertEquals(new MountMode(0, 0, false), asAlice.mountMode(alice));
    // Another user of that node is judged as by a root daemon.
    denied("cannot mount: only root may (control.group is not set)", asAlice.mount(bob, "reg.example.com/m:v1", null, hers));
    denied("cannot run cache gc: only root may", asAlice.operation(bob, "cache-gc"));
    denied("cannot unmount: only root may (control.group is not set)", asAlice.umount(bob, "/data/x", 1001));
  }

  @Test
  void everyoneOnTheSocketMayLook() {
    for (String op : new String[] {"ls", "status", "ping", "progress", "cache-ls", "profile-ls", "profile-export"}) {
      assertEquals(Decision.ALLOW, open.operation(bob, op), op);
      assertEquals(Decision.ALLOW, rootOnly.operation(bob, op), op);
    }
  }

  @Test
  void aMemberMountsIntoHerOwnWritableDirectory() {
    assertEquals(Decision.ALLOW, open.mount(alice, "reg.example.com/m:v1", null, hers));
    denied("cannot mount at /data/x: you do not own it",
        open.mount(alice, "reg.example.com/m:v1", null, new Mountpoint("/data/x", true, false, true, 0, true, true)));
    denied("cannot mount at /data/alice/ro: you may not write to it",
        open.mount(alice, "reg.example.com/m:v1", null, new Mountpoint("/data/alice/ro", true, false, true, 1001, false, true)));
    denied("cannot mount at /data/alice/l: it is a symbolic link",
        open.mount(alice, "reg.example.com/m:v1", null, new Mountpoint("/data/alice/l", true, true, false, 1001, true, false)));
    // Missing or not a directory: the daemon's usage errors, not refusals.
    assertEquals(Decision.ALLOW, open.mount(alice, "reg.example.com/m:v1", null, Mountpoint.missing("/nope")));
  }

  @Test
  void aMemberMayNotMakeTheDaemonReadAsRootOrSendCredentialsInClear() {
    denied("cannot mount oci:/root/layout: only root may use an OCI layout directory (the daemon would read it as root)",
        open.mount(alice, "oci:/root/layout", null, hers));
    denied("cannot mount reg.example.com/m:v1 with --plain-http: only root may (it would send the node's registry "
        + "credentials unencrypted)", open.mount(alice, "reg.example.com/m:v1", true, hers));
    denied("cannot pull oci:/root/layout: only root may use an OCI layout directory (the daemon would read it as root)",
        open.warm(alice, "oci:/root/layout", null));
    assertEquals(Decision.ALLOW, open.warm(alice, "reg.example.com/m:v1", false));
    assertEquals(Decision.ALLOW, open.warm(alice, null, null)); // warming a live mount by its directory
  }

  @Test
  void outsidersMayNotMount() {
    denied("cannot mount: only root or members of group modelcache may", open.mount(bob, "reg.example.com/m:v1", null, hers));
    denied("cannot mount: only root may (control.group is not set)", rootOnly.mount(alice, "reg.example.com/m:v1", null, hers));
    denied("cannot unmount: only root or members of group modelcache may", open.umount(bob, "/data/bob", 1002));
    // Membership through the primary group counts too.
    Caller primary = new Caller(45, 1004, GROUP, Set.of());
    assertTrue(open.operation(primary, "mount").allowed());
  }

  @Test
  void onlyRootOrTheOwnerUnmounts() {
    assertEquals(Decision.ALLOW, open.umount(alice, "/data/alice/m", 1001));
    denied("cannot unmount /models/llama: it was mounted by uid 0, not by you", open.umount(alice, "/models/llama", 0));
    Caller carol = new Caller(46, 1005, 100, Set.of(GROUP));
    denied("cannot unmount /data/alice/m: it was mounted by uid 1001, not by you", open.umount(carol, "/data/alice/m", 1001));
  }

  @Test
  void cacheAdministrationIsRootsOrTheAdminGroups() {
    denied("cannot run cache gc: only root or members of group mcadmin may", open.operation(alice, "cache-gc"));
    denied("cannot run cache evict: only root or members of group mcadmin may", open.operation(alice, "cache-evict"));
    denied("cannot run cache verify: only root or members of group mcadmin may", open.operation(alice, "cache-verify"));
    denied("cannot run profile import: only root or members of group mcadmin may", open.operation(alice, "profile-import"));
    denied("cannot run cache gc: only root may", rootOnly.operation(alice, "cache-gc"));
    assertEquals(Decision.ALLOW, open.operation(admin, "cache-gc"));
    assertEquals(Decision.ALLOW, open.operation(admin, "profile-import"));
  }

  @Test
  void anUnclassifiedOperationIsRootsOnly() {
    denied("cannot run 'reload': only root may", open.operation(alice, "reload"));
  }

  @Test
  void aUsersMountIsHersAndOthersReadItOnlyWhenAllowed() {
    assertEquals(new MountMode(1001, 100, false), open.mountMode(alice));
    assertEquals(new MountMode(1001, 100, true), rootOnly.mountMode(alice));
    assertEquals(new MountMode(0, 0, true), rootOnly.mountMode(root));
  }
}
