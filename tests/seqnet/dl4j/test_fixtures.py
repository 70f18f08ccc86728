"""``fixtures/dl4j`` holds exactly the files fixtures/README.md lists, with those checksums."""

from __future__ import annotations

import hashlib
import re

from tests.seqnet.dl4j._files import DL4J

README = DL4J.parent / "README.md"


def test_readme_lists_every_dl4j_fixture_with_its_sha256():
    section = README.read_text(encoding="utf-8").split("## `dl4j/`", 1)[1]
    listed = dict(re.findall(r"^\| `([^`]+)` \| .* \| `([0-9a-f]{64})` \|$", section, re.M))
    present = {str(p.relative_to(DL4J)): p for p in DL4J.rglob("*") if p.is_file()}
    assert sorted(listed) == sorted(present)
    for name, path in present.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == listed[name], name
