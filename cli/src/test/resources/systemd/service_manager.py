#!/usr/bin/env python3
"""A stand-in for systemd as one service's manager, for tests on machines whose PID 1 is not systemd.

It does what systemd 252 does for a unit with Type=simple, NotifyAccess=main and
FileDescriptorStoreMax= (sd_notify(3), sd_listen_fds(3), systemd.service(5)), and nothing else:

- NOTIFY_SOCKET is a datagram socket. A message is accepted only from the main process
  (NotifyAccess=main, checked with SCM_CREDENTIALS); descriptors sent by anyone else are closed.
- FDSTORE=1 with FDNAME=NAME keeps the attached descriptors under NAME, except one that is already
  in the store (the same open file, compared with kcmp(2) as systemd's same_fd() does);
  FDSTOREREMOVE=1 with FDNAME=NAME closes every descriptor of that name. A kept descriptor that
  reports POLLHUP or POLLERR is dropped (systemd watches each one unless FDPOLL=0 was sent).
- A start passes the store in store order from fd 3 on: LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID
  (the service's pid: a launcher that execs keeps it), in a new session, stdin /dev/null, stdout
  and stderr appended to the log.
- A restart (kill or term, then start) keeps the store, as a crash with Restart=on-failure or
  `systemctl restart` does; stop (SIGTERM, then the store is released) is `systemctl stop`.

Usage: service_manager.py SOCKET LOG COMMAND [ARG...]
Commands, one per line on stdin: start | kill | term | store | stop. End of input is stop (SIGKILL
after 60 s).
Events, one per line on stdout: STARTED pid fds | READY | NOTIFY text | STORED name | DUPLICATE name
| REMOVED name | DROPPED name | IGNORED pid | EXITED status | STORE name,... | STOPPED | ERROR text.
"""
import array
import ctypes
import os
import platform
import select
import signal
import socket
import struct
import sys
import time

KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
KCMP_FILE = 0
libc = ctypes.CDLL(None, use_errno=True)


def say(*words):
    print(*words, flush=True)


def same_file(a, b):
    """Whether two descriptors of this process are the same open file (kcmp KCMP_FILE)."""
    if KCMP is None:
        return False
    me = os.getpid()
    return libc.syscall(KCMP, me, me, KCMP_FILE, a, b) == 0


class Manager:
    def __init__(self, path, log, command):
        self.path = path
        self.log = log
        self.command = command
        self.store = []  # [name, fd] in store order
        self.pid = None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            os.unlink(path)  # a previous manager's socket file: systemd binds afresh too
        except FileNotFoundError:
            pass
        self.sock.bind(path)

    # --- the notify socket ---

    def receive(self):
        data, ancdata, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(253 * 4) + socket.CMSG_SPACE(12))
        fds, sender = [], None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
                fds.extend(a)
            elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                sender = struct.unpack("iII", payload[:12])[0]
        if sender is None or sender != self.pid:
            for fd in fds:
                os.close(fd)
            say("IGNORED", sender)
            return
        fields = {}
        for line in data.decode("utf-8", "replace").split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        say("NOTIFY", data.decode("utf-8", "replace").strip().replace("\n", ";"))
        name = fields.get("FDNAME", "stored")
        if fields.get("FDSTOREREMOVE") == "1":
            for entry in [e for e in self.store if e[0] == name]:
                self.store.remove(entry)
                os.close(entry[1])
                say("REMOVED", name)
        if fields.get("FDSTORE") == "1":
            for fd in fds:
                if any(same_file(fd, e[1]) for e in self.store):
                    os.close(fd)
                    say("DUPLICATE", name)
                else:
                    self.store.append([name, fd])
                    say("STORED", name)
        else:
            for fd in fds:
                os.close(fd)
        if fields.get("READY") == "1":
            say("READY")

    def drain(self):
        while select.select([self.sock], [], [], 0)[0]:
            self.receive()

    def drop_dead(self, dead):
        for entry in [e for e in self.store if e[1] in dead]:
            self.store.remove(entry)
            os.close(entry[1])
            say("DROPPED", entry[0])

    # --- the service ---

    def start(self):
        if self.pid is not None:
            say("ERROR", "already running", self.pid)
            return
        n = len(self.store)
        env = dict(os.environ, NOTIFY_SOCKET=self.path)
        for k in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"):
            env.pop(k, None)
        if n:
            env["LISTEN_FDS"] = str(n)
            env["LISTEN_FDNAMES"] = ":".join(e[0] for e in self.store)
        devnull = os.open("/dev/null", os.O_RDONLY)
        out = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # Copies above every target, so that placing one at 3 + i never overwrites a source.
        high = [fcntl_dup(e[1], 3 + n + 64) for e in self.store]
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                os.dup2(devnull, 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                for i, fd in enumerate(high):
                    os.dup2(fd, 3 + i)  # dup2 leaves the target without close-on-exec
                os.closerange(3 + n, os.sysconf("SC_OPEN_MAX"))
                if n:
                    env["LISTEN_PID"] = str(os.getpid())
                os.execve(self.command[0], self.command, env)
            finally:
                os._exit(127)
        for fd in high + [devnull, out]:
            os.close(fd)
        self.pid = pid
        say("STARTED", pid, n)

    def reap(self, wait_seconds):
        """Waits up to wait_seconds for the service to exit; returns its status or None."""
        deadline = time.monotonic() + wait_seconds
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.drain()  # what it sent before it exited is still queued
                code = os.waitstatus_to_exitcode(status)
                self.pid = None
                say("EXITED", code)
                return code
            if time.monotonic() > deadline:
                return None
            if select.select([self.sock], [], [], 0.05)[0]:
                self.receive()

    def signal(self, sig, wait_seconds):
        if self.pid is None:
            say("ERROR", "not running")
            return
        os.kill(self.pid, sig)
        if self.reap(wait_seconds) is None:
            os.kill(self.pid, signal.SIGKILL)  # TimeoutStopSec= passed
            self.reap(30)

    def stop(self):
        if self.pid is not None:
            self.signal(signal.SIGTERM, 60)
        for name, fd in self.store:
            os.close(fd)
        self.store = []
        self.sock.close()
        os.unlink(self.path)
        say("STOPPED")

    def run(self):
        commands = sys.stdin.fileno()
        pending = ""
        while True:
            poller = select.poll()
            poller.register(commands, select.POLLIN)
            poller.register(self.sock.fileno(), select.POLLIN)
            for _, fd in self.store:
                poller.register(fd, 0)  # POLLHUP and POLLERR are always reported
            dead = set()
            for fd, ev in poller.poll(100):
                if fd == self.sock.fileno():
                    self.receive()
                elif fd == commands:
                    chunk = os.read(commands, 4096)  # unbuffered: poll() must see every line still unread
                    pending += chunk.decode()
                    while "\n" in pending:
                        line, pending = pending.split("\n", 1)
                        if line.strip() == "stop":
                            self.stop()
                            return
                        self.command_(line.strip())
                    if not chunk:
                        self.stop()
                        return
                elif ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    dead.add(fd)
            self.drop_dead(dead)
            if self.pid is not None:
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:  # a crash: the test starts it again, as Restart=on-failure would
                    self.drain()
                    self.pid = None
                    say("EXITED", os.waitstatus_to_exitcode(status))

    def command_(self, cmd):
        if cmd == "start":
            self.start()
        elif cmd == "kill":
            self.signal(signal.SIGKILL, 30)
        elif cmd == "term":
            self.signal(signal.SIGTERM, 60)
        elif cmd == "store":
            self.drain()
            say("STORE", ",".join(e[0] for e in self.store))
        else:
            say("ERROR", "unknown command", cmd)


def fcntl_dup(fd, lowest):
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: service_manager.py SOCKET LOG COMMAND [ARG...]")
    Manager(sys.argv[1], sys.argv[2], sys.argv[3:]).run()
