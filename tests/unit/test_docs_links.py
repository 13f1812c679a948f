"""Links between the README and docs/ lead to pages and headings that exist."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Written on other branches of this release; they exist once those are merged.
WRITTEN_ELSEWHERE = {"docs/availability.md", "docs/real-nodes.md"}
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#([^)\s]+))?\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves(page: Path) -> None:
    for target, anchor in LINK.findall(page.read_text()):
        path = (page.parent / target).resolve()
        if str(path.relative_to(REPO)) in WRITTEN_ELSEWHERE and not path.exists():
            continue
        assert path.is_file(), f"{page.name} links to missing {target}"
        if anchor:
            assert anchor in _anchors(path), f"{page.name} links to missing {target}#{anchor}"


def test_the_readme_fits_a_screen_or_two() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 80


def test_every_docs_page_is_in_the_index() -> None:
    index = (REPO / "docs" / "README.md").read_text()
    for page in (REPO / "docs").glob("*.md"):
        if page.name != "README.md":
            assert f"]({page.name})" in index, page.name
