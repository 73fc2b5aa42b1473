#!/usr/bin/env python3
"""Docs that cannot rot: runs every shell recipe in README.md and docs/*.md against a fresh
glance-emu and checks its output.

Format (in the Markdown):

    ```console
    $ curl -sI http://127.0.0.1:9292/v1/images/does-not-exist
    HTTP/1.1 404 Not Found
    Content-Type: text/plain; charset=UTF-8
    ...
    ```

- `$ ` starts a command (a line ending in `\\` continues on the next line, and so does a
  here-document up to its end word); the lines up to
  the next command are its expected output (stdout and stderr together). In an expected
  line `[..]` matches any text; a line `...` matches any number of lines. A command with no
  expected lines must print nothing. A command that exits non-zero fails unless its
  expected output ends with `[exit N]`.
- `$ cargo run --release [-- ARGS]` and `$ glance-emu [ARGS]` (optionally ending in `&`)
  (re)start the block's server with ARGS (except `glance-emu snapshot ...`, which runs the
  built binary as a plain command): the built binary runs from the repository root,
  its stdout lines are the command's output, and it stops when the block ends. `2> FILE`
  among the ARGS sends its stderr (the log) to FILE.
- Each block runs in one bash process (variables carry from command to command) against a
  fresh server (default arguments, i.e. ./data) on a free port: `127.0.0.1:9292` in the
  block is rewritten to that port, in commands and expected output alike.
- Each block runs TWICE in a row against the same server: recipes must form a story that
  works again (upload, then download and delete *that* image).
- Other shell fences (```sh, ```bash, ```shell) must be preceded by
  `<!-- docs: not run: REASON -->`; a shell fence with neither is an error.

Usage: tests/docs/run.py [--show] [FILE.md ...]   (default: README.md docs/*.md)
  --show  print what each command printed (to write expected output).
Env: GLANCE_EMU_BIN (default target/release/glance-emu). tests/clients/.venv4/bin is put on
PATH first when it exists (the `glance` CLI recipes), and python/.venv/bin before it.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHELL_LANGS = {"sh", "bash", "shell", "console"}
NOT_RUN = re.compile(r"<!--\s*docs:\s*not run:\s*(.+?)\s*-->")
START = re.compile(r"^(?:cargo run --release(?: (?:-- )?(?P<a>.*?))?|glance-emu(?: (?P<b>.*?))?)\s*&?\s*$")
TIMEOUT = 120

PRELUDE = r"""
__server_pid=
__stop_server() {
  if [ -n "$__server_pid" ]; then kill "$__server_pid" 2>/dev/null; wait "$__server_pid" 2>/dev/null; __server_pid=; fi
}
trap __stop_server EXIT
__start_server() {  # ARGS...: what `cargo run --release -- ARGS` would run
  __stop_server
  local has_listen= a
  for a in "$@"; do case "$a" in --listen|--listen=*) has_listen=1;; esac; done
  local out="$DOCS_TMP/server.out"; : > "$out"
  local err="${DOCS_ERR:-$DOCS_TMP/server.err}"
  if [ -n "$has_listen" ]; then "$DOCS_BIN" "$@" > "$out" 2>"$err" &
  else "$DOCS_BIN" --listen "127.0.0.1:$DOCS_PORT" "$@" > "$out" 2>"$err" & fi
  __server_pid=$!
  local i
  for i in $(seq 200); do
    if ! kill -0 "$__server_pid" 2>/dev/null; then cat "$out" "$err"; __server_pid=; return 1; fi
    if grep -q listening "$out" && curl -s -o /dev/null "http://127.0.0.1:$DOCS_PORT/healthcheck"; then
      cat "$out"; return 0
    fi
    sleep 0.05
  done
  echo "server did not start"; cat "$err"; return 1
}
"""


class Block(object):
    def __init__(self, path, line, lang, text, not_run):
        self.path, self.line, self.lang, self.text, self.not_run = path, line, lang, text, not_run

    @property
    def where(self):
        return "%s:%d" % (self.path.relative_to(REPO), self.line)


def blocks(path):
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        nr = NOT_RUN.search(prev)
        yield Block(path, start + 1, lang, lines[start + 1:j], nr.group(1) if nr else None)
        i = j + 1


def commands(block):
    """[(command, [expected lines])] from a console block."""
    out = []
    cmd = None
    heredoc = None
    for line in block.text:
        if heredoc is not None or (cmd is not None and cmd.endswith("\\")):
            cmd = cmd + "\n" + line
            out[-1] = (cmd, out[-1][1])
            if heredoc is not None and line == heredoc:
                heredoc = None
            continue
        if line.startswith("$ "):
            cmd = line[2:]
            out.append((cmd, []))
            m = re.search(r"<<-?\s*'?\"?(\w+)", cmd)
            heredoc = m.group(1) if m else None
        elif out:
            out[-1][1].append(line)
        elif line.strip():
            raise ValueError("%s: output before the first `$ ` command: %r" % (block.where, line))
    return out


def matches(expected, actual):
    """Line-wise match with `[..]` (any text in a line) and `...` (any lines)."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    if not actual:
        return False
    pat = "^" + ".*".join(re.escape(p) for p in expected[0].split("[..]")) + "$"
    return re.match(pat, actual[0]) is not None and matches(expected[1:], actual[1:])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_start(cmd):
    """True for a command that (re)starts the block's server (not `glance-emu snapshot`)."""
    m = START.match(re.sub(r"\s+#.*$", "", cmd))
    return bool(m) and not re.match(r"^(?:-- )?snapshot\b", m.group("a") or m.group("b") or "")


def script_for(cmds, port):
    parts = [PRELUDE]
    for n, (cmd, _) in enumerate(cmds):
        m = START.match(re.sub(r"\s+#.*$", "", cmd))
        if m and not is_start(cmd):
            # `glance-emu snapshot ...` is a command of its own, not a server start
            args = (m.group("a") or m.group("b")).replace("-- ", "", 1)
            line = '"$DOCS_BIN" %s' % args.replace("127.0.0.1:9292", "127.0.0.1:%d" % port)
        elif m:
            args = m.group("a") if m.group("a") is not None else (m.group("b") or "")
            # `2> FILE`: the server's stderr (its log) goes there
            redirect = re.search(r"\s*2>\s*(\S+)", args)
            prefix = ""
            if redirect:
                prefix = "DOCS_ERR=%s " % redirect.group(1)
                args = args[:redirect.start()] + args[redirect.end():]
            line = prefix + "__start_server %s" % args.replace("127.0.0.1:9292", "127.0.0.1:%d" % port)
        else:
            line = cmd.replace("127.0.0.1:9292", "127.0.0.1:%d" % port)
        # braces, not a subshell: variables set by one command are seen by the next
        parts.append('{ %s\n} > "$DOCS_TMP/out.%d" 2>&1\necho $? > "$DOCS_TMP/rc.%d"'
                     % (line, n, n))
    return "\n".join(parts) + "\n"


def run_once(block, cmds, port, env, show):
    tmp = env["DOCS_TMP"]
    for f in os.listdir(tmp):
        if f.startswith(("out.", "rc.")):
            os.unlink(os.path.join(tmp, f))
    res = subprocess.run(["bash", "-c", script_for(cmds, port)], cwd=str(REPO), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
                         stdin=subprocess.DEVNULL)
    failures = []
    if res.stdout.strip():
        failures.append("the block printed outside its commands: %r" % res.stdout[-500:])
    for n, (cmd, exp) in enumerate(cmds):
        rc_path = os.path.join(tmp, "rc.%d" % n)
        if not os.path.exists(rc_path):
            failures.append("`%s`: did not run (the block stopped early)" % cmd)
            break
        status = int(open(rc_path).read().strip() or "0")
        with open(os.path.join(tmp, "out.%d" % n), "rb") as f:
            actual = f.read().decode("utf-8", "replace").replace("\r", "").splitlines()
        exp = [e.replace("127.0.0.1:9292", "127.0.0.1:%d" % port) for e in exp]
        want_code = 0
        if exp and re.match(r"^\[exit \d+\]$", exp[-1]):
            want_code = int(exp[-1][6:-1])
            exp = exp[:-1]
        if show:
            print("$ %s\n%s[exit %d]" % (cmd, "".join(l + "\n" for l in actual), status))
        if status != want_code:
            failures.append("`%s`: exit status %d, expected %d; output:\n%s"
                            % (cmd, status, want_code, "\n".join(actual)))
        elif not matches(exp, actual):
            failures.append("`%s`: output differs.\n--- expected\n%s\n--- actual\n%s"
                            % (cmd, "\n".join(exp), "\n".join(actual)))
    return failures


def run_block(block, binary, env, show):
    cmds = commands(block)
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="glance-emu-docs-")
    env = dict(env, DOCS_BIN=binary, DOCS_PORT=str(port), DOCS_TMP=tmp)
    server = None
    try:
        if not any(is_start(c) for c, _ in cmds):
            # a fresh default server for the block, kept across both runs
            server = subprocess.Popen([binary, "--listen", "127.0.0.1:%d" % port],
                                      cwd=str(REPO), env=env, stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(tmp, "default.err"), "wb"))
            wait_ready(port, server)
        failures = []
        for attempt in (1, 2):
            for f in run_once(block, cmds, port, env, show and attempt == 1):
                failures.append("run %d: %s" % (attempt, f))
            if failures:
                break
        return failures
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)


def wait_ready(port, proc):
    import time
    import urllib.request
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("the default server exited with %s" % proc.returncode)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthcheck" % port, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the default server did not answer /healthcheck")


SELF_TEST = """
```console
$ echo one; echo two; echo three
one
...
three
$ printf 'a-%s-b' "$(date +%s)"
a-[..]-b
$ x=7
$ echo "$x"
7
$ false
[exit 1]
```
"""


def self_test(binary, env):
    """The runner's own checks: wildcards, variables, exit codes, the default server; and a
    wrong expectation and a wrong exit status must fail."""
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "..."], ["a"])
    assert not matches(["a"], ["a", "b"])
    assert matches(["x[..]z"], ["xyz"]) and not matches(["x[..]z"], ["xy"])
    tmp = Path(tempfile.mkdtemp(prefix="glance-emu-docs-self-"))
    try:
        good = tmp / "good.md"
        good.write_text(SELF_TEST)
        bad_out = tmp / "bad.md"
        bad_out.write_text(SELF_TEST.replace("a-[..]-b", "a-b"))
        bad_rc = tmp / "rc.md"
        bad_rc.write_text(SELF_TEST.replace("[exit 1]", ""))
        srv = tmp / "srv.md"
        srv.write_text("```console\n$ curl -s http://127.0.0.1:9292/healthcheck\nOK\n```\n")
        results = {}
        for f in (good, bad_out, bad_rc, srv):
            b = list(blocks(f))[0]
            b.path = REPO / f.name  # for `where`
            results[f.name] = run_block(b, binary, env, False)
        assert results["good.md"] == [], results["good.md"]
        assert results["srv.md"] == [], results["srv.md"]
        assert "output differs" in results["bad.md"][0], results["bad.md"]
        assert "exit status 1, expected 0" in results["rc.md"][0], results["rc.md"]
    finally:
        shutil.rmtree(str(tmp), ignore_errors=True)
    print("docs: runner self-test passed")


def main(argv):
    show = "--show" in argv
    files = [Path(a).resolve() for a in argv if not a.startswith("--")]
    if not files:
        files = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
    binary = os.environ.get("GLANCE_EMU_BIN", str(REPO / "target" / "release" / "glance-emu"))
    if not os.access(binary, os.X_OK):
        print("docs: no binary at %s (cargo build --release first)" % binary)
        return 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCE_EMU_")}
    for venv in (REPO / "python" / ".venv" / "bin", REPO / "tests" / "clients" / ".venv4" / "bin"):
        if venv.is_dir():
            env["PATH"] = "%s%s%s" % (venv, os.pathsep, env.get("PATH", ""))
    env["NO_COLOR"] = "1"
    self_test(binary, env)
    passed = failed = skipped = 0
    for f in files:
        for b in blocks(f):
            if b.lang not in SHELL_LANGS:
                continue
            if b.not_run:
                skipped += 1
                print("SKIP %s: %s" % (b.where, b.not_run))
                continue
            if b.lang != "console":
                failed += 1
                print("FAIL %s: a ```%s block that is neither run (```console) nor marked "
                      "`<!-- docs: not run: REASON -->`" % (b.where, b.lang))
                continue
            try:
                failures = run_block(b, binary, env, show)
            except (ValueError, RuntimeError, subprocess.TimeoutExpired) as e:
                failures = [str(e)]
            if failures:
                failed += 1
                print("FAIL %s\n  %s" % (b.where, "\n  ".join(
                    "\n  ".join(f.splitlines()) for f in failures)))
            else:
                passed += 1
                print("PASS %s (%d commands, twice)" % (b.where, len(commands(b))))
    print("docs: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
