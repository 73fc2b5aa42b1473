"""The pytest examples in README.md run as written: every ```python block that uses the
`glance_emu` fixture is a test file of its own, run in a subprocess with the installed
plugin."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def fixture_examples():
    text = (REPO / "README.md").read_text()
    return [b for b in BLOCK.findall(text) if "glance_emu" in b]


def test_readme_has_a_fixture_example():
    assert fixture_examples()


@pytest.mark.parametrize("n", range(len(fixture_examples())))
def test_readme_example_runs(pytester, n):
    src = fixture_examples()[n]
    pytester.makepyfile(test_readme=src)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    passed = len(re.findall(r"^def test_", src, re.M))
    result.assert_outcomes(passed=passed)
