"""The pytest plugin (entry point `pytest11`): the `glance_emu` fixture.

- `glance_emu_server` (session): one server for the whole run, started on a free loopback
  port with the control API on (or, with $GLANCE_EMU_URL, a server that is already
  running), stopped at the end.
- `glance_emu` (function): the same server, reset before the test (records back to the
  fixtures, journal, faults, clock and ids cleared), so every test starts pristine.

ini options: `glance_emu_data` (fixture paths, one per line, relative to the rootdir;
default none: the server starts empty) and `glance_emu_args` (extra command-line arguments).
"""
import os
import shlex

import pytest

from . import GlanceEmu


def pytest_addoption(parser):
    parser.addini("glance_emu_data", type="linelist", default=[],
                  help="glance-emu fixture paths (--data), relative to the rootdir; "
                       "default: start empty")
    parser.addini("glance_emu_args", type="args", default=[],
                  help="extra glance-emu command-line arguments")


@pytest.fixture(scope="session")
def glance_emu_server(pytestconfig):
    """The session's glance-emu (a GlanceEmu), started once and stopped at the end."""
    url = os.environ.get("GLANCE_EMU_URL")
    if url:
        emu = GlanceEmu(url, control_url=os.environ.get("GLANCE_EMU_CONTROL_URL"),
                        token=os.environ.get("GLANCE_EMU_CONTROL_TOKEN"))
        emu.wait_ready()
        yield emu
        return
    root = str(pytestconfig.rootpath)
    data = [p if os.path.isabs(p) else os.path.join(root, p)
            for p in pytestconfig.getini("glance_emu_data")]
    args = list(pytestconfig.getini("glance_emu_args"))
    extra = os.environ.get("GLANCE_EMU_ARGS")
    if extra:
        args += shlex.split(extra)
    emu = GlanceEmu.start(data=data, args=args)
    try:
        yield emu
    finally:
        emu.cleanup()


@pytest.fixture
def glance_emu(glance_emu_server):
    """The session's glance-emu, reset to its fixtures (journal, faults, clock, ids
    cleared) before this test."""
    glance_emu_server.reset(all=True)
    return glance_emu_server
