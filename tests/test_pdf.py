"""The printable PDF of the whole book (``make pdf``), built from the smoke build and read back with pypdf.

``_ext/make_pdf.py`` builds the single-page HTML into the same folder as the smoke build (so its
execution cache is reused) and prints it with headless Chromium. The PDF must hold every chapter, each
starting on a new page, its figures as embedded images, typeset maths (MathJax's fonts, no TeX source
in the prose), numbered figures and equations, in-document links, the bibliography, and the licence on
every page. Under CI (``CI=true``) a missing browser fails the test.
"""

import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from helpers import toc_files

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        pytest.fail("the PDF test needs Debian's chromium and chromium-driver (.ci/run installs them)",
                    pytrace=False)
    pytestmark = pytest.mark.skip(reason="chromium/chromedriver not installed (apt-get install chromium chromium-driver)")


def normal(text: str) -> str:
    """NFKC (the PDF's ligatures become letters), one space between words."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def chapter_titles() -> dict[str, str]:
    """The first-level heading of every page of the table of contents, in toc order."""
    titles = {}
    for page in toc_files():
        heading = next(line for line in (ROOT / f"{page}.md").read_text().splitlines() if line.startswith("# "))
        titles[page] = heading[2:].strip()
    return titles


@pytest.fixture(scope="module")
def pdf_file(book_output, tmp_path_factory):
    output = tmp_path_factory.mktemp("pdf") / "model-collapse-rerun.pdf"
    # the run store of the smoke build (conftest's, or the Makefile's _runs/ when CI built the book)
    runs = book_output / ("_runs" if os.environ.get("COLLAPSE_BUILT_BOOK") else "runs")
    env = dict(os.environ, COLLAPSE_PROFILE="smoke", COLLAPSE_RUNS=str(runs))
    result = subprocess.run([sys.executable, str(ROOT / "_ext" / "make_pdf.py"), "--path-output", str(book_output),
                             "--output", str(output)], env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert f"PDF of the book: {output}" in result.stdout, "make pdf prints where the PDF is"
    return output


@pytest.fixture(scope="module")
def pdf(pdf_file):
    from pypdf import PdfReader

    return PdfReader(pdf_file)


@pytest.fixture(scope="module")
def page_texts(pdf):
    return [normal(page.extract_text()) for page in pdf.pages]


def font_name(font) -> str:
    font = font.get_object() if font is not None else {}
    name = font.get("/BaseFont")
    if name is None and "/FontDescriptor" in font:  # Type 3 fonts (MathJax's) name it only there
        name = font["/FontDescriptor"].get_object().get("/FontName")
    return str(name or "")


@pytest.fixture(scope="module")
def prose(pdf):
    """The text of every page set in a proportional font: code (monospace) left out."""
    texts = []
    for page in pdf.pages:
        parts = []

        def visit(text, cm, tm, font, size, parts=parts):
            if "Mono" not in font_name(font):
                parts.append(text)

        page.extract_text(visitor_text=visit)
        texts.append(normal("".join(parts)))
    return texts


def bookmarks(pdf) -> list:
    """Every bookmark of the PDF (Chromium makes them from the headings), flattened."""
    flat, stack = [], [pdf.outline]
    while stack:
        for item in stack.pop(0):
            (stack if isinstance(item, list) else flat).append(item)
    return flat


def chapter_pages(pdf) -> dict[str, tuple[int, int]]:
    """Title -> (first page, page after the last), 0-based, from the PDF's bookmarks."""
    titles = set(chapter_titles().values())
    starts = sorted((pdf.get_destination_page_number(item), normal(item.title))
                    for item in bookmarks(pdf) if normal(item.title) in titles)
    ends = [page for page, _ in starts[1:]] + [len(pdf.pages)]
    return {title: (page, end) for (page, title), end in zip(starts, ends)}


def test_page_count_is_plausible(pdf):
    # 121 A4 pages at the smoke profile (2026-12); the book has the same figures at every profile
    assert 60 <= len(pdf.pages) <= 300, len(pdf.pages)


def test_every_chapter_is_there_and_starts_a_page(pdf, page_texts):
    marks = {normal(item.title): item for item in bookmarks(pdf)}
    for page, title in chapter_titles().items():
        assert title in marks, f"no bookmark for the chapter {title!r} ({page})"
        number = pdf.get_destination_page_number(marks[title])
        assert normal(title) in page_texts[number], f"{title!r} is not on the page its bookmark opens"
        height = float(pdf.pages[number].mediabox.height)
        assert marks[title].top > 0.85 * height, f"{title!r} starts low on page {number + 1}, not on a new page"
    assert len(chapter_pages(pdf)) == len(chapter_titles())


def test_figures_are_embedded_as_images(pdf, built_book):
    from bs4 import BeautifulSoup

    ranges, with_figures = chapter_pages(pdf), 0
    for page, title in chapter_titles().items():
        soup = BeautifulSoup((built_book / f"{page}.html").read_text(), "html.parser")
        main = soup.find("main") or soup
        shown = {img["src"] for img in main.find_all("img") if not img.find_parent("details")}
        if not shown:
            continue
        with_figures += 1
        first, end = ranges[title]
        images = set()
        for number in range(first, end):
            xobjects = (pdf.pages[number].get("/Resources") or {}).get("/XObject") or {}
            images |= {ref.idnum for ref in xobjects.values() if ref.get_object().get("/Subtype") == "/Image"}
        assert len(images) >= len(shown), f"{title}: {len(images)} images in the PDF, {len(shown)} on the web page"
    assert with_figures >= 5, "the chapters with figures"


def test_the_maths_is_typeset(pdf, prose):
    text = " ".join(prose)
    for tex in ("$$", r"\frac", r"\(", r"\[", r"\begin{", r"\mathbb", r"\hat"):
        assert tex not in text, f"TeX source {tex!r} in the printed prose: MathJax did not typeset it"
    pages_with_mathjax = sum(
        any(font_name(font).split("+")[-1].startswith("MathJax_")
            for font in ((page.get("/Resources") or {}).get("/Font") or {}).values())
        for page in pdf.pages)
    assert pages_with_mathjax >= 20, f"MathJax's fonts on only {pages_with_mathjax} pages"


def test_figures_and_equations_are_numbered_and_linked(pdf, page_texts):
    text = " ".join(page_texts)
    assert len(set(re.findall(r"\bFig\. (\d+)", text))) >= 5
    assert re.search(r"\(\d+\)", text), "no equation numbers"
    assert re.search(r"\bTheorem \d+", text) and re.search(r"\bExercise \d+", text)
    internal, local = 0, []
    for page in pdf.pages:
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            action = annotation.get("/A")
            uri = str(action.get_object().get("/URI", "")) if action else ""
            internal += "/Dest" in annotation
            if "127.0.0.1" in uri or "localhost" in uri:
                local.append(uri)
    assert internal >= 50, "cross-references should be links inside the PDF"
    assert not local, f"links to the print server: {local[:5]}"


def test_the_bibliography_lists_every_cited_work(pdf, page_texts):
    from pybtex.database import parse_file

    start, end = chapter_pages(pdf)["Bibliography"]
    bibliography = re.sub(r"[^a-z0-9]", "", " ".join(page_texts[start:end]).lower())
    cited = set()
    for chapter in (ROOT / "chapters").glob("*.md"):
        for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", chapter.read_text()):
            cited |= {key.strip() for key in keys.split(",")}
    entries = parse_file(ROOT / "references.bib").entries
    assert len(cited) >= 10 and cited <= set(entries)
    for key in sorted(cited):
        title = entries[key].fields["title"]
        if "$" in title or "\\" in title:
            continue
        assert re.sub(r"[^a-z0-9]", "", title.lower()) in bibliography, f"{key} missing from the bibliography"


def test_every_page_carries_the_licence_and_its_number(page_texts):
    for number, text in enumerate(page_texts, start=1):
        assert "CC BY 4.0" in text and f"{number} / {len(page_texts)}" in text, f"page {number}"


def test_no_web_page_furniture_is_printed(page_texts):
    text = " ".join(page_texts)
    for web_only in ("Show code cell", "Hide code cell", "executed notebook (.ipynb)", "Skip to main content",
                     "Back to top", "Ctrl+K"):
        assert web_only not in text, f"{web_only!r} printed"
