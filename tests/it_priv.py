"""Integration tests for SPEC §5-§6: the setgid model, the privilege drop,
secrets that never leak, and container mode without a config file.

Each test runs as root to set the scene and then acts as an unprivileged
user.  The scene is a private mount namespace (unshare --mount) whose /etc
is an overlay: the group relaymail, the test user (useradd) and
/etc/relaymail.conf are made inside it and vanish with it, so nothing is
ever left in the real /etc.  Commands enter it with nsenter and take the
user's ids with setpriv.  Mail goes to the real tests/smarthost.py.

Run alone:  /usr/bin/python3 tests/itest.py -k priv_
"""

import base64
import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time

from itest import (BINARY, PYTHON, TOP, USER, DOMAIN, RelaymailTestCase, Run,
                   Smarthost, VALGRIND, client_commands, transcript_events)
import itest

SECRET = "Zq7-system-S3cret-4711"      # the system password
UNAME = "rmpriv"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MSG = (b"To: Alice <alice@example.com>\n"
       b"Subject: privilege test\n"
       b"\n"
       b"body line one\n"
       b"body line two\n")


def secret_forms(user=USER, secret=SECRET):
    """The password as it could appear anywhere: plain, base64 alone
    (LOGIN), and inside AUTH PLAIN's base64 message."""
    plain = base64.b64encode(b"\0" + user.encode() + b"\0" + secret.encode())
    return [secret.encode(), base64.b64encode(secret.encode()), plain,
            secret[:10].encode()]


class Scene:
    """A mount namespace with an overlay on /etc, held open by a sleeping
    process; run() enters it (nsenter) as root or as a user (setpriv)."""

    def __init__(self, root):
        self.root = root
        self.holder = None

    def start(self):
        upper = os.path.join(self.root, "ovl", "upper")
        work = os.path.join(self.root, "ovl", "work")
        os.makedirs(upper)
        os.makedirs(work)
        script = ("mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,"
                  "workdir=%s /etc && echo ready && exec sleep 900"
                  % (upper, work))
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        line = self.holder.stdout.readline()
        if line.strip() != b"ready":
            err = self.holder.stderr.read().decode("utf-8", "replace")
            self.stop()
            raise RuntimeError("cannot make the private /etc: %s" % err)

    def stop(self):
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait()

    def run(self, argv, uid=None, gid=None, groups="init", env=None,
            input=b"", cwd="/", timeout=60, nnp=False):
        """argv inside the namespace; as uid/gid when given (groups: init
        = the user's groups from the namespace's /etc/group, clear = none).
        env is the whole environment. Returns an itest Run."""
        cmd = ["nsenter", "-t", str(self.holder.pid), "-m", "--wd=" + cwd, "--"]
        if uid is not None:
            cmd += ["setpriv", "--reuid", str(uid), "--regid", str(gid),
                    "--init-groups" if groups == "init" else "--clear-groups"]
            if nnp:
                cmd += ["--no-new-privs"]
            cmd += ["--"]
        cmd += list(argv)
        e = {"PATH": SAFE_PATH}
        if env is not None:
            e = dict(env)
        t0 = time.monotonic()
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=e, timeout=timeout)
        return Run(cmd, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)

    def root_ok(self, *argv, **kw):
        r = self.run(argv, **kw)
        if r.status != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(argv), r.err))
        return r.stdout.decode().strip()


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that accepts, then holds the client (no
    greeting) until release(), then forwards to the smarthost: a slow
    server holding relaymail mid-session."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _serve(self):
        try:
            client, _ = self.sock.accept()
        except OSError:
            return
        self.connected.set()
        self.released.wait(30)
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        except OSError:
            client.close()
            return
        up.settimeout(None)
        client.settimeout(None)
        t = threading.Thread(target=self._pump, args=(up, client), daemon=True)
        t.start()
        self._pump(client, up)
        t.join(10)
        client.close()
        up.close()

    def close(self):
        self.released.set()
        self.sock.close()


# Run as the user: start relaymail, wait until the slow server holds it,
# try every way into its memory, report, let the session finish.
PROBE = r'''
import ctypes, errno, json, os, subprocess, sys, time
binary, msgfile, flag, release = sys.argv[1:5]
env = json.loads(sys.argv[5])
out = {}
with open(msgfile, "rb") as m:
    p = subprocess.Popen([binary, "alice@example.com"], stdin=m,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
deadline = time.time() + 30
while not os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.02)
out["held"] = os.path.exists(flag) and p.poll() is None
pid = p.pid
for name in ("environ", "mem", "maps", "auxv"):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            f.read(64)
        out[name] = "readable"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
with open("/proc/%d/status" % pid) as f:
    for line in f:
        k, _, v = line.partition(":")
        if k in ("Uid", "Gid", "Groups"):
            out[k] = v.split()
with open("/proc/%d/limits" % pid) as f:
    out["core"] = [l.split()[4:6] for l in f if l.startswith("Max core")][0]
with open("/proc/%d/cmdline" % pid, "rb") as f:
    out["cmdline"] = f.read().decode("utf-8", "replace")
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
for req, name in ((16, "attach"), (0x4206, "seize")):
    r = libc.ptrace(req, pid, None, None)
    out["ptrace_" + name] = "ok" if r == 0 else errno.errorcode.get(ctypes.get_errno())
    if r == 0:
        os.waitpid(pid, 0) if req == 16 else None
        libc.ptrace(17, pid, None, None)
open(release, "w").close()
so, se = p.communicate(timeout=60)
out["status"] = p.returncode
out["stderr"] = se.decode("utf-8", "replace")
print(json.dumps(out))
'''


# Run as the user: start relaymail whose password_command sleeps, find
# the command's shell among relaymail's children, try to get into it.
CHILD_PROBE = r'''
import ctypes, errno, json, os, subprocess, sys, time
binary, msgfile = sys.argv[1:3]
env = json.loads(sys.argv[3])
out = {}
with open(msgfile, "rb") as m:
    p = subprocess.Popen([binary, "alice@example.com"], stdin=m,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
child, deadline = None, time.time() + 20
while child is None and time.time() < deadline:
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if d.isdigit() and int(st.rsplit(")", 1)[1].split()[1]) == p.pid:
            child = int(d)
    time.sleep(0.02)
out["found"] = child is not None
if child:
    for name in ("environ", "mem"):
        try:
            with open("/proc/%d/%s" % (child, name), "rb") as f:
                f.read(64)
            out[name] = "readable"
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno, str(e.errno))
    with open("/proc/%d/status" % child) as f:
        out["Gid"] = [l.split()[1:] for l in f if l.startswith("Gid:")][0]
    with open("/proc/%d/cmdline" % child, "rb") as f:
        out["cmdline"] = f.read().decode("utf-8", "replace")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                            ctypes.c_void_p]
    r = libc.ptrace(16, child, None, None)
    out["ptrace_attach"] = "ok" if r == 0 else errno.errorcode.get(ctypes.get_errno())
    if r == 0:
        os.waitpid(child, 0)
        libc.ptrace(17, child, None, None)
so, se = p.communicate(timeout=60)
out["status"] = p.returncode
out["stderr"] = se.decode("utf-8", "replace")
print(json.dumps(out))
'''


class PrivTestCase(RelaymailTestCase):
    """A scene with the group relaymail, the user rmpriv, the setgid
    binary and (write_system_config) /etc/relaymail.conf."""

    def setUp(self):
        super().setUp()
        self.scene = None
        self.attacker = None
        if os.geteuid() != 0:
            self.skipTest("needs root to set the scene (useradd, unshare, setpriv)")
        if VALGRIND:
            self.skipTest("valgrind cannot run a set-group-id relaymail "
                          "with its privilege (make check covers this)")
        for tool in ("unshare", "nsenter", "setpriv", "useradd", "groupadd"):
            if shutil.which(tool, path=SAFE_PATH) is None:
                self.fail("%s not found: install util-linux and passwd" % tool)
        os.chmod(self.tmp, 0o755)
        self.scene = Scene(self.tmp)
        self.scene.start()
        self.gid_rm = int(self._group("relaymail", system=True))
        self.uid = self.gid = None
        self._make_user()
        self.pub = os.path.join(self.tmp, "pub")
        os.mkdir(self.pub, 0o755)
        self.ca = os.path.join(self.pub, "ca.pem")
        shutil.copy(os.path.join(itest.CERTS, "ca.pem"), self.ca)
        os.chmod(self.ca, 0o644)
        self.setgid_bin = self._install(os.path.join(self.tmp, "sg"), setgid=True)
        self.plain_bin = self._install(os.path.join(self.tmp, "plain"), setgid=False)

    def tearDown(self):
        if self.attacker is not None:
            self.attacker.stop()
        if self.scene is not None:
            self.scene.stop()
        super().tearDown()

    # -- scene ----------------------------------------------------------

    def _group(self, name, system=False):
        r = self.scene.run(["getent", "group", name])
        if r.status != 0:
            self.scene.root_ok("groupadd", *(["--system"] if system else []), name)
            r = self.scene.run(["getent", "group", name])
        return r.stdout.decode().split(":")[2]

    def _make_user(self):
        """useradd inside the namespace, with a uid free on the host too."""
        used = set()
        with open("/etc/passwd") as f:
            used = {int(l.split(":")[2]) for l in f if l.count(":") >= 3}
        uid = random.randint(42000, 59000)
        while uid in used:
            uid += 1
        self.scene.root_ok("useradd", "-M", "-l", "-U", "-u", str(uid), "-d",
                           self.home, "-s", "/bin/sh", UNAME)
        self.uid = uid
        self.gid = int(self.scene.root_ok("id", "-g", UNAME))
        os.chown(self.home, self.uid, self.gid)

    def _install(self, prefix, setgid):
        """The binary under test, as make install lays it out."""
        sbin = os.path.join(prefix, "sbin")
        os.makedirs(sbin)
        os.chmod(prefix, 0o755)
        path = os.path.join(sbin, "relaymail")
        shutil.copy(BINARY, path)
        if setgid:
            os.chown(path, 0, self.gid_rm)
            os.chmod(path, 0o2755)
        else:
            os.chmod(path, 0o755)
        return path

    def put_etc(self, name, text, mode=0o640, owner=0, group=None):
        """Write /etc/NAME inside the namespace (root:relaymail 0640)."""
        src = os.path.join(self.tmp, "stage-" + name)
        with open(src, "w") as f:
            f.write(text)
        os.chmod(src, 0o600)
        self.scene.root_ok("install", "-m", "%o" % mode, "-o", str(owner),
                           "-g", str(self.gid_rm if group is None else group),
                           src, "/etc/" + name)
        os.unlink(src)
        return "/etc/" + name

    def system_config(self, port=None, **over):
        opts = {
            "host": "localhost",
            "port": port if port is not None else self.server.port,
            "tls": "starttls",
            "tls_ca_file": self.ca,
            "auth": "auto",
            "user": USER,
            "password": SECRET,
            "helo": "client.example.org",
            "domain": DOMAIN,
            "timeout": 10,
            "retries": 0,
            "syslog": False,
        }
        opts.update(over)
        lines = []
        for k, v in opts.items():
            if v is None:
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, int):
                v = str(v)
            elif k == "password":
                v = "'%s'" % v
            elif k in ("tls", "auth"):
                pass
            else:
                v = '"%s"' % v
            lines.append("%s = %s" % (k, v))
        return "\n".join(lines) + "\n"

    def start_smarthost(self, **kw):
        kw.setdefault("password", SECRET)
        return self.start_server(**kw)

    def user_env(self, **extra):
        env = {"PATH": SAFE_PATH, "HOME": self.home, "LOGNAME": UNAME,
               "USER": UNAME}
        if ".asan" in BINARY:
            # LeakSanitizer stops the world with ptrace, which a
            # non-dumpable process denies to anyone without CAP_SYS_PTRACE
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        env.update(extra)
        return env

    def as_user(self, argv, input=MSG, env=None, **kw):
        r = self.scene.run(argv, uid=self.uid, gid=self.gid, input=input,
                           env=env if env is not None else self.user_env(),
                           cwd=self.home, **kw)
        self.runs.append(r)
        return r

    def send(self, *args, binary=None, **kw):
        return self.as_user([binary or self.setgid_bin] + list(args), **kw)

    # -- assertions -----------------------------------------------------

    def assertNoSecret(self, data, where):
        if isinstance(data, str):
            data = data.encode()
        for form in secret_forms():
            self.assertNotIn(form, data, "the password (%r) in %s" % (form, where))

    def assertNoSecretUnder(self, top):
        for d, _, files in os.walk(top):
            for name in files:
                path = os.path.join(d, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    self.assertNoSecret(f.read(), path)

    def assertDelivered(self, r, n=1):
        self.assertExit(r, 0)
        msgs = self.server.messages()
        self.assertEqual(len(msgs), n, "messages at the configured server")
        self.assertEqual(msgs[-1][1]["auth_user"], USER)
        return msgs[-1]


class PrivInstall(PrivTestCase):
    """make install itself: group, modes, the example config."""

    serial = True

    def test_priv_a_make_install_setgid(self):
        """make install as root creates the group relaymail (here in the
        namespace), installs the binary root:relaymail 2755 and the example
        config root:relaymail 0640, and never overwrites an existing one;
        SETGID=no installs neither group nor bit nor config."""
        self.scene.root_ok("groupdel", "relaymail")
        dest = os.path.join(self.tmp, "root")
        r = self.scene.run(["make", "-C", TOP, "install", "DESTDIR=" + dest,
                            "PREFIX=/usr"], env=dict(os.environ), timeout=600)
        self.assertEqual(r.status, 0, "make install failed: %s%s"
                         % (r.stdout.decode()[-2000:], r.err[-2000:]))
        gid = int(self.scene.root_ok("getent", "group", "relaymail").split(":")[2])
        st = os.stat(os.path.join(dest, "usr/sbin/relaymail"))
        self.assertEqual((st.st_uid, st.st_gid), (0, gid), "binary owner")
        self.assertEqual(st.st_mode & 0o7777, 0o2755, "binary mode %o" % st.st_mode)
        conf = os.path.join(dest, "etc/relaymail.conf")
        st = os.stat(conf)
        self.assertEqual((st.st_uid, st.st_gid), (0, gid), "config owner")
        self.assertEqual(st.st_mode & 0o7777, 0o640, "config mode %o" % st.st_mode)
        with open(conf, "w") as f:
            f.write("# mine\n")
        r = self.scene.run(["make", "-C", TOP, "install", "DESTDIR=" + dest,
                            "PREFIX=/usr"], env=dict(os.environ), timeout=600)
        self.assertEqual(r.status, 0, r.err)
        with open(conf) as f:
            self.assertEqual(f.read(), "# mine\n", "existing config overwritten")

        plain = os.path.join(self.tmp, "plainroot")
        r = self.scene.run(["make", "-C", TOP, "install", "DESTDIR=" + plain,
                            "PREFIX=/usr", "SETGID=no"], env=dict(os.environ),
                           timeout=600)
        self.assertEqual(r.status, 0, r.err)
        st = os.stat(os.path.join(plain, "usr/sbin/relaymail"))
        self.assertEqual(st.st_mode & 0o7777, 0o755)
        self.assertEqual(st.st_gid, 0)
        self.assertFalse(os.path.exists(os.path.join(plain, "etc/relaymail.conf")))


class PrivSetgid(PrivTestCase):

    def test_priv_b_user_sends_but_cannot_read_config(self):
        """The user cannot cat /etc/relaymail.conf, yet mail sent through
        the setgid binary (default config path, no -C) authenticates and
        arrives; stderr stays empty."""
        self.start_smarthost()
        self.put_etc("relaymail.conf", self.system_config())
        r = self.as_user(["cat", "/etc/relaymail.conf"])
        self.assertNotEqual(r.status, 0, "the user can read the config")
        self.assertIn("Permission denied", r.err)
        self.assertNoSecret(r.stdout, "cat's output")
        r = self.send("alice@example.com")
        eml, meta = self.assertDelivered(r)
        self.assertEqual(r.err, "", "stderr not empty")
        self.assertEqual(meta["mail_from"], "%s@%s" % (UNAME, DOMAIN))
        self.assertEqual(meta["rcpt_tos"], ["alice@example.com"])
        self.assertFalse(os.path.exists(os.path.join(self.home, "dead.letter")))

    def test_priv_c_C_cannot_reveal_the_password(self):
        """-C /etc/relaymail.conf and -C /etc/relaymail.secret (a bare
        password, a syntax error as a config) are opened with the user's
        rights only: refused, nothing printed; -C of the user's own config
        is honoured and never carries the system password to their server."""
        self.start_smarthost()
        secret = self.put_etc("relaymail.secret", SECRET + "\n")
        self.put_etc("relaymail.conf", self.system_config(
            password=None, password_file=secret))
        for target in ("/etc/relaymail.conf", secret):
            r = self.send("-C", target, "alice@example.com")
            self.assertExit(r, 78)
            self.assertIn("Permission denied", r.err)
            self.assertNoSecret(r.stdout + r.stderr, "output of -C " + target)
        self.assertNothingSpooled()
        # the user's own config, pointing at a server the user runs
        self.attacker = Smarthost(os.path.join(self.tmp, "attacker"),
                                  password="whatever").start()
        own = os.path.join(self.home, "my.conf")
        with open(own, "w") as f:
            f.write('host = "localhost"\nport = %d\ntls_ca_file = "%s"\n'
                    'user = "%s"\ndomain = "%s"\nretries = 0\nsyslog = false\n'
                    % (self.attacker.port, self.ca, USER, DOMAIN))
        os.chown(own, self.uid, self.gid)
        os.chmod(own, 0o600)
        r = self.send("-v", "-C", own, "alice@example.com")
        self.assertNotEqual(r.status, 0)
        self.assertNoSecret(r.stdout + r.stderr, "output of -C own config")
        self.assertNoSecret(self.attacker.transcript(), "the user's server")
        self.assertNoSecretUnder(self.home)
        # and the system password file was read by nobody
        self.assertNoSecret(self.server.transcript(), "the real server (no session)")

    def test_priv_d_syntax_error_next_to_password(self):
        """A system config with a syntax error next to the password (the
        natural libconfuse message would quote it) fails with file and
        line, no value; the message is kept in the user's dead.letter,
        which holds no secret and belongs to the user's own group."""
        self.start_smarthost()
        first, second = SECRET[:11], SECRET[11:]
        text = self.system_config(password=None)
        text += "password = %s %s\n" % (first, second)
        self.put_etc("relaymail.conf", text)
        r = self.send("alice@example.com")
        self.assertExit(r, 78)
        self.assertRegex(r.err, r"/etc/relaymail\.conf:%d:" % text.count("\n"))
        for part in (first, second):
            self.assertNotIn(part, r.err)
        self.assertNothingSpooled()
        dl = os.path.join(self.home, "dead.letter")
        st = os.stat(dl)
        self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid),
                         "dead.letter not written with the user's own ids")
        self.assertNoSecretUnder(self.home)
        # a double-quoted password with ${...}: the caller's environment
        # must not fill it in
        self.put_etc("relaymail.conf", self.system_config(password=None)
                     + 'password = "Zq7${EVIL}"\n')
        r = self.as_user([self.setgid_bin, "alice@example.com"],
                         env=self.user_env(EVIL="attacker-value"))
        self.assertExit(r, 78)
        self.assertIn("single quotes", r.err)
        self.assertNotIn("Zq7", r.err)
        self.assertNotIn("attacker-value", r.err)

    def test_priv_e_verbose_shows_no_secret(self):
        """-v and --check -v through the setgid binary: the dialogue is
        shown, AUTH data only as <redacted>, for PLAIN and LOGIN."""
        for mech in ("PLAIN", "LOGIN"):
            if self.server is not None:
                self.server.stop()
                shutil.rmtree(self.server.dir)
            self.start_smarthost(extra=["--auth-mechs", mech])
            self.put_etc("relaymail.conf", self.system_config())
            r = self.send("-v", "alice@example.com")
            self.assertDelivered(r)
            self.assertIn("<redacted>", r.err)
            self.assertIn("AUTH", r.err)
            self.assertNoSecret(r.stdout + r.stderr, "-v output (%s)" % mech)
            r = self.send("--check", "-v", input=b"")
            self.assertExit(r, 0)
            self.assertNoSecret(r.stdout + r.stderr, "--check -v output (%s)" % mech)

    def test_priv_f_relaymail_env_ignored(self):
        """RELAYMAIL_* naming a server the user runs (and their own
        credentials) is ignored while setgid: the mail goes to the
        configured host; the user's server sees no connection at all."""
        self.start_smarthost(extra=["--auth-mechs", "PLAIN"])
        # libconfuse's ${VAR} in the system config sees no caller variable
        self.put_etc("relaymail.conf", self.system_config(
            helo="h${RM_HELO}.example.org"))
        self.attacker = Smarthost(os.path.join(self.tmp, "attacker"),
                                  password=SECRET,
                                  extra=["--auth-mechs", "PLAIN"]).start()
        bait = os.path.join(self.home, "pw")
        with open(bait, "w") as f:
            f.write("user-password\n")
        os.chown(bait, self.uid, self.gid)
        env = self.user_env(
            RELAYMAIL_HOST="localhost", RELAYMAIL_PORT=str(self.attacker.port),
            RELAYMAIL_TLS="starttls", RELAYMAIL_USER="attacker@example.org",
            RELAYMAIL_PASSWORD_FILE=bait, RELAYMAIL_TLS_CA_FILE=self.ca,
            RELAYMAIL_DOMAIN="attacker.example", RELAYMAIL_FROM="x@attacker.example",
            RELAYMAIL_DEFAULT_TO="x@attacker.example", RM_HELO="-attacker")
        r = self.as_user([self.setgid_bin, "root"], env=env)
        eml, meta = self.assertDelivered(r)
        ehlo = [c for _, c in client_commands(self.server.transcript())
                if c.upper().startswith("EHLO")]
        self.assertEqual(set(ehlo), {"EHLO h.example.org"})
        self.assertEqual(meta["rcpt_tos"], ["root@" + DOMAIN])
        self.assertEqual(meta["mail_from"], "%s@%s" % (UNAME, DOMAIN))
        self.assertEqual(transcript_events(self.attacker.transcript(settle=0.5)), [],
                         "relaymail connected to the user's server")
        # the control: the same variables do act on a non-setgid relaymail
        # run with the user's own readable config
        own = os.path.join(self.home, "own.conf")
        with open(own, "w") as f:
            f.write('host = "nowhere.invalid"\nsyslog = false\nretries = 0\n')
        os.chown(own, self.uid, self.gid)
        env["RELAYMAIL_USER"] = USER
        env.pop("RELAYMAIL_PASSWORD_FILE")
        env["RELAYMAIL_PASSWORD"] = SECRET
        r = self.as_user([self.plain_bin, "-C", own, "root"], env=env)
        self.assertExit(r, 0)
        self.assertEqual(len(self.attacker.messages()), 1,
                         "control: RELAYMAIL_HOST did not act unprivileged")

    def test_priv_g_ssl_cert_file_ignored(self):
        """With the system trust store configured, SSL_CERT_FILE,
        SSL_CERT_DIR and OPENSSL_CONF naming what the user controls change
        nothing while setgid: the test CA stays untrusted (75, no AUTH).
        Control: the same environment does make a non-setgid relaymail
        trust it."""
        self.start_smarthost()
        self.put_etc("relaymail.conf", self.system_config(tls_ca_file=None))
        mine = os.path.join(self.home, "myca")
        os.mkdir(mine)
        shutil.copy(self.ca, os.path.join(mine, "ca.pem"))
        with open(os.path.join(mine, "openssl.cnf"), "w") as f:
            f.write("openssl_conf = x\n[x]\nssl_conf = s\n[s]\n"
                    "system_default = d\n[d]\nVerifyCAFile = %s/ca.pem\n" % mine)
        for root, dirs, files in os.walk(mine):
            for n in dirs + files + ["."]:
                os.chown(os.path.join(root, n), self.uid, self.gid)
        env = self.user_env(SSL_CERT_FILE=os.path.join(mine, "ca.pem"),
                            SSL_CERT_DIR=mine,
                            OPENSSL_CONF=os.path.join(mine, "openssl.cnf"))
        r = self.as_user([self.setgid_bin, "alice@example.com"], env=env)
        self.assertExit(r, 75)
        self.assertRegex(r.err, r"(?i)certificate|verif|trust")
        self.assertNothingSpooled()
        self.assertNoCommand(["AUTH"])
        self.assertNoSecret(r.stderr, "stderr")
        own = os.path.join(self.home, "own.conf")
        with open(own, "w") as f:
            f.write(self.system_config(tls_ca_file=None, password=None)
                    + "password = '%s'\n" % SECRET)
        os.chown(own, self.uid, self.gid)
        os.chmod(own, 0o600)
        r = self.as_user([self.plain_bin, "-C", own, "alice@example.com"], env=env)
        self.assertDelivered(r)

    def test_priv_h_home_tmpdir_and_file_options(self):
        """HOME and TMPDIR naming the user's directories, -X and -D naming
        files: a failed delivery of a spooled (large) message leaves only
        the user's own dead.letter (user's uid and gid, 0600, no secret);
        -X/-D files are never written; nothing the user controls gets the
        relaymail group or the password."""
        self.start_smarthost(extra=["--reject-rcpt", "bad@example.com"])
        self.put_etc("relaymail.conf", self.system_config())
        tmpd = os.path.join(self.home, "tmp")
        os.mkdir(tmpd, 0o700)
        os.chown(tmpd, self.uid, self.gid)
        big = MSG + b"x" * 70 + b"\n"
        big = big + (b"y" * 99 + b"\n") * 4000     # past the in-memory limit
        env = self.user_env(TMPDIR=tmpd)
        xfile = os.path.join(self.home, "traffic.log")
        dfile = os.path.join(self.home, "debug.log")
        r = self.as_user([self.setgid_bin, "-X", xfile, "-D", dfile,
                          "bad@example.com"], input=big, env=env)
        self.assertExit(r, 67)
        self.assertFalse(os.path.exists(xfile), "-X wrote a file")
        self.assertFalse(os.path.exists(dfile), "-D wrote a file")
        dl = os.path.join(self.home, "dead.letter")
        st = os.stat(dl)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777),
                         (self.uid, self.gid, 0o600))
        self.assertEqual(os.listdir(tmpd), [], "files left in TMPDIR")
        for d, dirs, files in os.walk(self.home):
            for n in dirs + files:
                self.assertNotEqual(os.lstat(os.path.join(d, n)).st_gid, self.gid_rm,
                                    "%s has the relaymail group" % n)
        self.assertNoSecretUnder(self.home)
        self.assertNoSecret(r.stderr, "stderr")
        # HOME pointing elsewhere the user controls: dead.letter follows it
        other = os.path.join(self.home, "elsewhere")
        os.mkdir(other, 0o700)
        os.chown(other, self.uid, self.gid)
        r = self.as_user([self.setgid_bin, "bad@example.com"],
                         env=self.user_env(HOME=other))
        self.assertExit(r, 67)
        st = os.stat(os.path.join(other, "dead.letter"))
        self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid))
        self.assertNoSecretUnder(other)

    def test_priv_i_memory_closed_while_held(self):
        """While a slow server holds the session (no greeting yet), the user
        who started relaymail cannot read /proc/PID/environ, mem, maps or
        auxv, and ptrace attach/seize is refused; /proc/PID/status shows
        the user's own gid in every slot (the drop happened) and core
        files are off.  Released, the session delivers."""
        self.start_smarthost()
        proxy = DelayProxy(self.server.port)
        try:
            self.put_etc("relaymail.conf", self.system_config(port=proxy.port))
            flag = os.path.join(self.tmp, "pub", "connected")
            release = os.path.join(self.home, "release")
            msgfile = os.path.join(self.pub, "msg")
            with open(msgfile, "wb") as f:
                f.write(MSG)
            os.chmod(msgfile, 0o644)
            probe = os.path.join(self.pub, "probe.py")
            with open(probe, "w") as f:
                f.write(PROBE)
            os.chmod(probe, 0o644)

            def watch():
                if proxy.connected.wait(30):
                    open(flag, "w").close()
                deadline = time.monotonic() + 40
                while not os.path.exists(release) and time.monotonic() < deadline:
                    time.sleep(0.02)
                proxy.released.set()

            threading.Thread(target=watch, daemon=True).start()
            env = self.user_env()
            r = self.as_user([PYTHON, probe, self.setgid_bin, msgfile, flag,
                              release, json.dumps(env)], input=b"", timeout=90)
        finally:
            proxy.close()
        self.assertEqual(r.status, 0, "probe failed: %s" % r.err)
        out = json.loads(r.stdout)
        self.assertTrue(out["held"], "the slow server did not hold relaymail")
        for name in ("environ", "mem", "maps", "auxv"):
            self.assertEqual(out[name], "EACCES", "/proc/PID/%s: %s" % (name, out[name]))
        self.assertEqual(out["ptrace_attach"], "EPERM")
        self.assertEqual(out["ptrace_seize"], "EPERM")
        self.assertEqual(out["Gid"], [str(self.gid)] * 4, "gids after the drop")
        self.assertEqual(out["Uid"], [str(self.uid)] * 4)
        self.assertNotIn(str(self.gid_rm), out["Groups"])
        self.assertEqual(out["core"], ["0", "0"], "core files not off")
        self.assertNoSecret(out["cmdline"], "cmdline")
        self.assertEqual(out["status"], 0, "relaymail failed: %s" % out["stderr"])
        self.assertEqual(len(self.server.messages()), 1)

    def test_priv_j_config_checks(self):
        """While setgid the config must be root's and writable only by
        root, and a password in it must not be readable by others: each
        failure is a clear 78 without the value."""
        self.start_smarthost()
        cases = [
            (0o644, 0, None, "read by every local user"),
            (0o660, 0, None, "writable only by root"),
            (0o640, self.uid, None, "owned by root"),
        ]
        for mode, owner, group, words in cases:
            self.put_etc("relaymail.conf", self.system_config(), mode=mode,
                         owner=owner, group=group)
            r = self.send("alice@example.com")
            self.assertExit(r, 78)
            self.assertIn(words, r.err)
            self.assertIn("/etc/relaymail.conf", r.err)
            self.assertNoSecret(r.stderr, "stderr")
        self.assertNothingSpooled()
        # a world-readable config without a secret is fine
        secret = self.put_etc("relaymail.secret", SECRET + "\n")
        self.put_etc("relaymail.conf", self.system_config(
            password=None, password_file=secret), mode=0o644)
        self.assertDelivered(self.send("alice@example.com"))
        # but a world-readable password file is not
        self.put_etc("relaymail.secret", SECRET + "\n", mode=0o644)
        r = self.send("alice@example.com")
        self.assertExit(r, 78)
        self.assertIn("relaymail.secret", r.err)
        self.assertNoSecret(r.stderr, "stderr")

    def test_priv_o_client_key_for_the_group_only(self):
        """tls_key_file root:relaymail 0640, like the password: the user
        cannot read it, yet the setgid binary presents the certificate
        (it reads both files before dropping the group; OpenSSL opening
        them afterwards was a 78).  The user's own -C config naming that
        key gets a 78 and nothing goes out; a world-readable key is
        refused while setgid."""
        from evilsmtp import EvilSMTP
        ca = os.path.join(itest.CERTS, "ca.pem")
        self.evil = EvilSMTP(certs=itest.CERTS, user=USER, password=SECRET,
                             client_ca=ca).start()
        self.addCleanup(self.evil.stop)
        with open(os.path.join(itest.CERTS, "client.key")) as f:
            key_text = f.read()
        with open(os.path.join(itest.CERTS, "client.pem")) as f:
            crt = self.put_etc("relaymail-client.pem", f.read(), mode=0o644)
        key = self.put_etc("relaymail-client.key", key_text)
        conf = self.system_config(port=self.evil.port, tls_cert_file=crt,
                                  tls_key_file=key)
        self.put_etc("relaymail.conf", conf)
        r = self.as_user(["cat", key])
        self.assertNotEqual(r.status, 0, "the user can read the key")
        r = self.send("alice@example.com")
        self.assertExit(r, 0)
        self.assertEqual(r.err, "", "stderr not empty")
        self.assertEqual(len(self.evil.messages), 1)
        cc = self.evil.tls_sessions[0]["client_cert"]
        self.assertIsNotNone(cc, "no client certificate")
        self.assertIn((("commonName", "relaymail test client"),), cc["subject"])
        # -C: the caller's rights only, so the system key stays closed
        own = os.path.join(self.home, "my.conf")
        with open(own, "w") as f:
            f.write('host = "localhost"\nport = %d\ntls_ca_file = "%s"\n'
                    'tls_cert_file = "%s"\ntls_key_file = "%s"\n'
                    'auth = none\nretries = 0\nsyslog = false\n'
                    % (self.evil.port, self.ca, crt, key))
        os.chown(own, self.uid, self.gid)
        n = self.evil.nconn
        r = self.send("-C", own, "alice@example.com")
        self.assertExit(r, 78)
        self.assertIn("Permission denied", r.err)
        self.assertNotIn(b"PRIVATE KEY", r.stdout + r.stderr)
        self.assertEqual(self.evil.nconn, n)
        # a key every local user can read defeats the group: 78
        self.put_etc("relaymail-client.key", key_text, mode=0o644)
        r = self.send("alice@example.com")
        self.assertExit(r, 78)
        self.assertIn("relaymail-client.key", r.err)
        self.assertEqual(len(self.evil.messages), 1)


class PrivPasswordCommand(PrivTestCase):

    def test_priv_k_password_command_setgid(self):
        """password_command runs with the group (it reads a root:relaymail
        0640 file the user cannot), stdin /dev/null (the message stays
        whole), cwd /, and a fixed environment whatever the user sets."""
        self.start_smarthost()
        secret = self.put_etc("relaymail.secret", SECRET + "\n")
        cmd = ('if read -r x; then exit 9; fi; '
               'test "$PATH" = "%s" || exit 10; test "$HOME" = / || exit 11; '
               'test -z "$EVIL" || exit 12; test "$(pwd)" = / || exit 13; '
               'test -z "$LD_PRELOAD" || exit 14; cat %s' % (SAFE_PATH, secret))
        self.put_etc("relaymail.conf", self.system_config(
            password=None, password_command=cmd.replace('"', '\\"')))
        r = self.as_user(["cat", secret])
        self.assertNotEqual(r.status, 0, "the user can read the secret file")
        env = self.user_env(EVIL="1", PATH=self.home + ":" + SAFE_PATH)
        r = self.as_user(["/usr/bin/env", "LD_PRELOAD=/nonexistent.so",
                          self.setgid_bin, "alice@example.com"], env=env)
        eml, meta = self.assertDelivered(r)
        self.assertIn(b"body line two\r\n", eml, "the command consumed stdin")
        self.assertEqual(r.err, "")

    def test_priv_k2_password_command_closed_to_the_user(self):
        """The running command holds the group in all its gids, so the
        user who started relaymail can neither ptrace it nor read its
        memory or environment; no secret in its command line."""
        self.start_smarthost()
        secret = self.put_etc("relaymail.secret", SECRET + "\n")
        self.put_etc("relaymail.conf", self.system_config(
            password=None, password_command="sleep 2; cat " + secret))
        probe = os.path.join(self.pub, "child_probe.py")
        with open(probe, "w") as f:
            f.write(CHILD_PROBE)
        msgfile = os.path.join(self.pub, "msg")
        with open(msgfile, "wb") as f:
            f.write(MSG)
        os.chmod(probe, 0o644)
        os.chmod(msgfile, 0o644)
        r = self.as_user([PYTHON, probe, self.setgid_bin, msgfile,
                          json.dumps(self.user_env())], input=b"", timeout=90)
        self.assertEqual(r.status, 0, "probe failed: %s" % r.err)
        out = json.loads(r.stdout)
        self.assertTrue(out["found"], "password_command's process not seen")
        self.assertEqual(out["environ"], "EACCES")
        self.assertEqual(out["mem"], "EACCES")
        self.assertEqual(out["ptrace_attach"], "EPERM")
        self.assertEqual(out["Gid"], [str(self.gid_rm)] * 4)
        self.assertNoSecret(out["cmdline"], "the command's cmdline")
        self.assertEqual(out["status"], 0, out["stderr"])
        self.assertEqual(len(self.server.messages()), 1)

    def test_priv_l_password_command_failures(self):
        """A failing command is temporary (75) and names its status; a slow
        one is killed at the timeout; the message is kept either way; the
        helper's stderr is not shown while setgid."""
        self.start_smarthost()
        cases = [
            ("echo %s >&2; exit 3" % SECRET, "exit status 3", 10),
            ("sleep 30", "did not finish within 1 s", 1),
            ("echo", "first line is empty", 10),
        ]
        for cmd, words, timeout in cases:
            self.put_etc("relaymail.conf", self.system_config(
                password=None, password_command=cmd, timeout=timeout))
            t0 = time.monotonic()
            r = self.send("alice@example.com")
            self.assertExit(r, 75)
            self.assertIn(words, r.err)
            self.assertNoSecret(r.stderr, "stderr")
            self.assertLess(time.monotonic() - t0, 15)
        self.assertNothingSpooled()
        self.assertDeadLetter(MSG)

    def test_priv_m_password_command_unprivileged(self):
        """Run by the user's own rights (non-setgid binary, own config) the
        command sees the user's environment less RELAYMAIL_*."""
        self.start_smarthost()
        own = os.path.join(self.home, "own.conf")
        with open(own, "w") as f:
            f.write(self.system_config(password=None, password_command=(
                'test \\"$MYVAR\\" = kept && test -z \\"$RELAYMAIL_DOMAIN\\" && '
                'echo %s' % SECRET)))
        os.chown(own, self.uid, self.gid)
        os.chmod(own, 0o600)
        env = self.user_env(MYVAR="kept", RELAYMAIL_DOMAIN=DOMAIN)
        self.assertDelivered(self.as_user([self.plain_bin, "-C", own,
                                           "alice@example.com"], env=env))


class PrivContainer(PrivTestCase):

    def test_priv_n_container_no_passwd_no_config(self):
        """An unprivileged uid with no passwd entry and no HOME, no
        /etc/relaymail.conf, only RELAYMAIL_* (password from
        RELAYMAIL_PASSWORD_FILE): the message is delivered, by a binary
        installed with SETGID=no and by the setgid one under
        no-new-privileges (as in a container)."""
        self.start_smarthost()
        self.scene.root_ok("rm", "-f", "/etc/relaymail.conf")
        uid = 54321
        while True:
            if self.scene.run(["getent", "passwd", str(uid)]).status != 0:
                break
            uid += 1
        secrets = os.path.join(self.tmp, "run-secrets")
        os.mkdir(secrets, 0o755)
        pwfile = os.path.join(secrets, "smtp")
        with open(pwfile, "w") as f:
            f.write(SECRET + "\n")
        os.chown(pwfile, uid, uid)
        os.chmod(pwfile, 0o400)
        env = {"PATH": SAFE_PATH,
               "RELAYMAIL_HOST": "localhost",
               "RELAYMAIL_PORT": str(self.server.port),
               "RELAYMAIL_TLS": "starttls",
               "RELAYMAIL_USER": USER,
               "RELAYMAIL_PASSWORD_FILE": pwfile,
               "RELAYMAIL_TLS_CA_FILE": self.ca,
               "RELAYMAIL_DOMAIN": DOMAIN,
               "RELAYMAIL_FROM": "app@" + DOMAIN}
        if ".asan" in BINARY:
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        for n, (binary, nnp) in enumerate(((self.plain_bin, False),
                                           (self.setgid_bin, True))):
            r = self.scene.run([binary, "ops"], uid=uid, gid=uid, groups="clear",
                               env=env, input=MSG, cwd="/", nnp=nnp)
            self.runs.append(r)
            self.assertExit(r, 0)
            self.assertEqual(r.err, "", "stderr not empty")
            msgs = self.server.messages()
            self.assertEqual(len(msgs), n + 1)
            meta = msgs[-1][1]
            self.assertEqual(meta["auth_user"], USER)
            self.assertEqual(meta["mail_from"], "app@" + DOMAIN)
            self.assertEqual(meta["rcpt_tos"], ["ops@" + DOMAIN])
        # the same setgid binary with the bit in force refuses RELAYMAIL_*
        r = self.scene.run([self.setgid_bin, "ops"], uid=uid, gid=uid,
                           groups="clear", env=env, input=MSG, cwd="/")
        self.runs.append(r)
        self.assertExit(r, 78)
        self.assertIn("no configuration", r.err)
        # a host with the setgid setup: /etc/relaymail.conf exists but is
        # not this service's to read (no-new-privileges): RELAYMAIL_* only
        self.put_etc("relaymail.conf", self.system_config(host="nowhere.invalid"))
        r = self.scene.run([self.setgid_bin, "ops"], uid=uid, gid=uid,
                           groups="clear", env=env, input=MSG, cwd="/", nnp=True)
        self.runs.append(r)
        self.assertExit(r, 0)
        self.assertEqual(len(self.server.messages()), 3)
        env.pop("RELAYMAIL_HOST")
        r = self.scene.run([self.setgid_bin, "ops"], uid=uid, gid=uid,
                           groups="clear", env=env, input=MSG, cwd="/", nnp=True)
        self.runs.append(r)
        self.assertExit(r, 78)
        self.assertIn("/etc/relaymail.conf: Permission denied", r.err)
