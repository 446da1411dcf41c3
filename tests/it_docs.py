"""The manual pages against the code: every option of the command line and
every key of the configuration that the code knows is documented, the
documented defaults are the code's, the pages are free of mandoc and groff
warnings, and `make install` installs them.

The code's tables are read from the source (sendmail.c `options[]`, the
`-b` modes and long options; conf.c's schema, `choices[]` and RELAYMAIL_*
names), so a new option or key without documentation fails here. Each
reader insists on finding a plausible table, so a reshaped source file
fails loudly instead of comparing nothing.
"""

import os
import re
import subprocess

from itest import TOP, RelaymailTestCase

MAN8 = os.path.join(TOP, "man", "relaymail.8")
MAN5 = os.path.join(TOP, "man", "relaymail.conf.5")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def c_block(src, start):
    """The text of the brace-balanced block that follows `start` in src."""
    i = src.index(start)
    i = src.index("{", i + len(start) - 1)
    depth = 0
    for j in range(i, len(src)):
        if src[j] == "{":
            depth += 1
        elif src[j] == "}":
            depth -= 1
            if depth == 0:
                return src[i:j + 1]
    raise ValueError("unbalanced block after %r" % start)


# ------------------------------------------------------------ the code

def code_options():
    """{letter: ARG_NONE | ARG_REQ | ARG_GLUED} from sendmail.c options[]."""
    src = read(os.path.join(TOP, "sendmail.c"))
    table = c_block(src, "options[] = {")
    opts = dict(re.findall(r"\{\s*'(.)',\s*(ARG_[A-Z]+),\s*\w+\s*\}", table))
    return opts


def code_modes():
    """The -b modes (m, p, i, s, v, ...) from opt_b's table."""
    src = read(os.path.join(TOP, "sendmail.c"))
    body = c_block(src, "\nopt_b(")
    return re.findall(r"\{\s*\"(\w+)\",\s*MODE_\w+\s*\}", body)


def code_longs():
    """The long options (--help, ...) from opt_long's table."""
    src = read(os.path.join(TOP, "sendmail.c"))
    body = c_block(src, "\nopt_long(")
    return re.findall(r"\{\s*\"(--[\w-]+)\",\s*MODE_\w+\s*\}", body)


def code_schema():
    """[(kind, key, default)] of every option in conf.c's libconfuse schema,
    the alias section's own keys included."""
    src = read(os.path.join(TOP, "conf.c"))
    body = c_block(src, "\nconf_schema(")
    return re.findall(
        r"CFG_(STR_LIST|STR|INT|BOOL|SEC)\(\s*\"(\w+)\",\s*([^,]+?)\s*,", body)


def code_choices():
    """{key: [words]} from conf.c's choices[]."""
    src = read(os.path.join(TOP, "conf.c"))
    table = c_block(src, "choices[] = {")
    out = {}
    for key, words in re.findall(r"\{\s*\"(\w+)\",\s*\{([^}]*)\}\s*\}", table):
        out[key] = re.findall(r"\"([^\"]+)\"", words)
    return out


def code_env():
    """Every RELAYMAIL_* variable the C sources name."""
    names = set()
    for f in os.listdir(TOP):
        if f.endswith(".c"):
            names |= set(re.findall(r"\"(RELAYMAIL_[A-Z0-9_]+)\"",
                                    read(os.path.join(TOP, f))))
    return names


# ------------------------------------------------------------ the pages

def section(page, name):
    """The lines of one .Sh section of an mdoc page."""
    out, on = [], False
    for line in page.splitlines():
        if line.startswith(".Sh "):
            on = line[4:].strip() == name
        elif on:
            out.append(line)
    return out


def items(lines):
    """[(the .It line's words, the item's text)] of the lists in lines."""
    out = []
    for line in lines:
        if line.startswith(".It"):
            out.append((line.split()[1:], [line]))
        elif line.startswith(".El"):
            if out:
                out[-1][1].append("")
        elif out:
            out[-1][1].append(line)
    return [(words, "\n".join(text)) for words, text in out]


def flags(words):
    """[(flag text, argument follows?)] for each `Fl x` in a line's words;
    `\\-check` is returned as `-check`."""
    out = []
    for i, w in enumerate(words):
        if w == "Fl" and i + 1 < len(words):
            rest = words[i + 2:i + 4]
            arg = rest[:1] in (["Ar"], ["Op"]) or (
                rest[:1] == ["Ns"] and rest[1:2] in (["Ar"], ["Op"]))
            out.append((words[i + 1].replace("\\-", "-"), arg))
    return out


def words_of(text):
    """The words of mdoc text (macros included), without the punctuation
    around them: "none ." and "1.2" give "none" and "1.2"."""
    words = (w.strip(",;:|.()") for w in text.replace("\\&", " ").split())
    return set(words) - {""}


class Docs(RelaymailTestCase):

    needs_binary = False

    # -- the tables are found at all -------------------------------------

    def test_docs_code_tables_found(self):
        """The source readers find the tables they compare (a reshaped
        source file must not turn the comparisons into no-ops)."""
        opts = code_options()
        self.assertGreaterEqual(len(opts), 25, opts)
        for c, kind in (("t", "ARG_NONE"), ("f", "ARG_REQ"), ("q", "ARG_GLUED")):
            self.assertEqual(opts.get(c), kind, "-%s in options[]" % c)
        self.assertTrue({"m", "p", "i", "v"} <= set(code_modes()), code_modes())
        self.assertTrue({"--help", "--version", "--check"} <= set(code_longs()))
        keys = {k for _, k, _ in code_schema()}
        self.assertGreaterEqual(len(keys), 25, keys)
        self.assertTrue({"host", "port", "tls", "alias", "to", "syslog"} <= keys)
        self.assertEqual(code_choices()["tls"], ["starttls", "tls", "none"])
        self.assertIn("RELAYMAIL_HOST", code_env())

    # -- relaymail(8) ----------------------------------------------------

    def documented_flags(self):
        """[(flag, argument follows?)] of every .It in OPTIONS."""
        out = []
        for words, _ in items(section(read(MAN8), "OPTIONS")):
            out += flags(words)
        self.assertGreater(len(out), 20, "no OPTIONS list in relaymail.8")
        return out

    def test_docs_every_option_in_relaymail_8(self):
        """Each option of options[] has an item in OPTIONS, with an
        argument exactly when it takes one."""
        doc = self.documented_flags()
        missing = []
        for c, kind in sorted(code_options().items()):
            alone = [arg for f, arg in doc if f == c]
            glued = [f for f, _ in doc if len(f) > 1 and f[0] == c]
            if kind == "ARG_NONE":
                ok = False in alone
            elif kind == "ARG_REQ":
                ok = True in alone or bool(glued)
            else:               # optional, glued only: -q, -q30m
                ok = bool(alone)
            if not ok:
                missing.append("-%s (%s)" % (c, kind))
        self.assertEqual(missing, [], "options of sendmail.c not (or wrongly) "
                         "documented in OPTIONS of man/relaymail.8")

    def test_docs_every_mode_and_long_option_in_relaymail_8(self):
        """-bm, -bp, ... and --check, --help, --version have items."""
        doc = {f for f, _ in self.documented_flags()}
        missing = ["-b" + m for m in code_modes() if "b" + m not in doc]
        missing += [l for l in code_longs() if l[1:] not in doc]
        self.assertEqual(missing, [], "missing from OPTIONS of man/relaymail.8")

    def test_docs_no_phantom_option_in_relaymail_8(self):
        """Every option OPTIONS documents exists: the code refuses any
        other with status 64."""
        opts, longs = code_options(), {l[1:] for l in code_longs()}
        modes = code_modes()
        phantom = [f for f, _ in self.documented_flags()
                   if (f[0] == "-" and f not in longs)
                   or (f[0] != "-" and f[0] not in opts)
                   or (f[0] == "b" and len(f) > 1 and f[1:] not in modes)]
        self.assertEqual(phantom, [], "documented but not in sendmail.c")

    def test_docs_environment_in_both_pages(self):
        """Every RELAYMAIL_* variable of the code is in both pages."""
        for page in (MAN8, MAN5):
            text = read(page)
            missing = sorted(v for v in code_env()
                             if not re.search(r"\b%s\b" % v, text))
            self.assertEqual(missing, [], "missing from %s" % page)

    # -- relaymail.conf(5) -----------------------------------------------

    def key_items(self):
        """{key: item text} for every key an .It line of KEYS names: a
        `Cm key` first on the line, after a comma (two keys in one item)
        or after a brace (a section's keys); `No = Cm starttls` is a
        value."""
        out = {}
        for words, text in items(section(read(MAN5), "KEYS")):
            for i, w in enumerate(words[:-1]):
                if w == "Cm" and (i == 0 or words[i - 1] in (",", "{")):
                    out.setdefault(words[i + 1], text)
        self.assertGreater(len(out), 20, "no KEYS list in relaymail.conf.5")
        return out

    def test_docs_every_key_in_relaymail_conf_5(self):
        """Each key of conf.c's schema has an item in KEYS."""
        doc = self.key_items()
        missing = sorted(k for _, k, _ in code_schema() if k not in doc)
        self.assertEqual(missing, [], "keys of conf.c not in KEYS of "
                         "man/relaymail.conf.5")

    def test_docs_no_phantom_key_in_relaymail_conf_5(self):
        """Every key KEYS documents is in the schema."""
        keys = {k for _, k, _ in code_schema()}
        phantom = sorted(k for k in self.key_items() if k not in keys)
        self.assertEqual(phantom, [], "documented but not in conf.c")

    def test_docs_every_choice_word_documented(self):
        """Each word a choice key accepts (tls = starttls | tls | none,
        every auth mechanism, ...) is in that key's item."""
        doc = self.key_items()
        missing = []
        for key, words in sorted(code_choices().items()):
            text = words_of(doc.get(key, ""))
            missing += ["%s = %s" % (key, w) for w in words if w not in text]
        self.assertEqual(missing, [], "values missing from man/relaymail.conf.5")

    def test_docs_defaults_match_the_code(self):
        """A number or boolean key with a default in the schema says
        `Default N` in its item, with the code's value."""
        doc = self.key_items()
        wrong, checked = [], 0
        for kind, key, default in code_schema():
            if kind == "INT" and default != "0":
                want = default
            elif kind == "BOOL":
                want = {"cfg_true": "true", "cfg_false": "false"}[default]
            else:
                continue
            checked += 1
            m = re.search(r"Default\s+(\S+?)\.?(\s|$)", doc.get(key, ""))
            if m is None or m.group(1) != want:
                wrong.append("%s: page says %s, code %s"
                             % (key, m.group(1) if m else "nothing", want))
        self.assertGreaterEqual(checked, 6)
        self.assertEqual(wrong, [], "defaults in man/relaymail.conf.5")

    # -- rendering -------------------------------------------------------

    def test_docs_mandoc_lint_clean(self):
        """mandoc -Tlint -W warning: nothing to say about either page."""
        p = subprocess.run(["mandoc", "-Tlint", "-W", "warning", MAN8, MAN5],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual((p.returncode, p.stdout.decode()), (0, ""))

    def test_docs_groff_renders_without_warnings(self):
        """groff -ww with the mandoc macros (what `man -l` runs): silent."""
        for page in (MAN8, MAN5):
            p = subprocess.run(["groff", "-ww", "-z", "-mandoc", "-Tutf8", page],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual((p.returncode, p.stdout.decode()), (0, ""), page)



class DocsInstall(RelaymailTestCase):

    needs_binary = False
    serial = True       # make install builds in the tree: not beside others

    def test_docs_make_install_man_pages(self):
        """make install puts relaymail.8 and relaymail.conf.5 under
        $(PREFIX)/share/man, unchanged and readable by all."""
        if "RELAYMAIL_SKIP_INSTALL" in os.environ:
            self.skipTest("RELAYMAIL_SKIP_INSTALL is set")
        dest = os.path.join(self.tmp, "root")
        # SETGID=no: the group and the setgid bit are tests/it_priv.py's
        p = subprocess.run(["make", "--no-print-directory", "install",
                            "DESTDIR=" + dest, "PREFIX=/usr", "SETGID=no"],
                           cwd=TOP,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout.decode()[-3000:])
        for src, inst in ((MAN8, "usr/share/man/man8/relaymail.8"),
                          (MAN5, "usr/share/man/man5/relaymail.conf.5")):
            path = os.path.join(dest, inst)
            self.assertTrue(os.path.isfile(path), "missing " + inst)
            self.assertEqual(read(path), read(src), inst)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o644, inst)
