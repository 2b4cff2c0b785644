"""The README and docs/: the two commands come first, and every internal link reaches its file and heading."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6} (.*)", line)
        if m:
            slug = _slug(m.group(1))
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return found


def test_the_readme_first_command_is_the_demo_and_the_second_the_tests():
    """CI reads the test command from the README: the first command is `make demo`, the second `make test`."""
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]
    assert commands[:2] == ["make demo", "make test"]


def test_every_internal_link_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path) if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("## Two runtimes\n")
    assert "two-runtimes" in _anchors(page) and "tests" not in _anchors(page)
    assert _slug("Kafka cluster mode (`bench/cluster.py`)") == "kafka-cluster-mode-benchclusterpy"


def test_every_docs_page_says_what_is_proven():
    missing = [p.name for p in PAGES[1:] if p.name != "docker.md" and "What is proven" not in p.read_text()]
    assert missing == []
