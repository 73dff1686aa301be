"""The landing page names every chapter of the table of contents, each with a link."""

import posixpath
import re
from pathlib import Path

from bs4 import BeautifulSoup
from helpers import toc_files

ROOT = Path(__file__).resolve().parents[1]
DOC_ROLE = re.compile(r"\{doc\}`(?:[^`<]*<)?(?P<target>[^`<>]+?)>?`")


def linked_docs(markdown: str, folder: str) -> set[str]:
    """The documents that ``{doc}`` roles in ``markdown`` (a page in ``folder``) link to."""
    targets = set()
    for m in DOC_ROLE.finditer(markdown):
        target = m.group("target").strip()
        targets.add(target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target)))
    return targets


def test_linked_docs_reads_both_forms_of_the_role():
    assert linked_docs("- {doc}`theory` and {doc}`the API <api>`; {doc}`/chapters/vae`", "chapters") == \
        {"chapters/theory", "chapters/api", "chapters/vae"}


def test_every_toc_chapter_is_linked_from_the_landing_page_source():
    root, *chapters = toc_files()
    section = (ROOT / f"{root}.md").read_text(encoding="utf-8").split("## How to read it", 1)
    assert len(section) == 2, "the landing page has no 'How to read it' section"
    listed = linked_docs(section[1].split("\n## ", 1)[0], posixpath.dirname(root))
    missing = [c for c in chapters if c not in listed]
    assert not missing, f"'How to read it' does not link {missing}"


def test_every_toc_chapter_is_linked_from_the_built_landing_page(built_book):
    root, *chapters = toc_files()
    page = built_book / f"{root}.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article")
    hrefs = {posixpath.normpath(posixpath.join(posixpath.dirname(root), a["href"].split("#")[0]))
             for a in article.select("a.reference.internal[href]")}
    missing = [c for c in chapters if f"{c}.html" not in hrefs]
    assert not missing, f"the built landing page does not link {missing}"
