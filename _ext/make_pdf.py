"""Print the whole book to one PDF with headless Chromium, offline (``make pdf``).

Why Chromium and not LaTeX: the book's HTML is what the tests check and what readers see; headless
Chromium and chromedriver are already needed by the browser test (Debian's ``chromium`` and
``chromium-driver``), while jupyter-book's ``pdflatex`` builder needs a TeX Live of several GB
(``texlive-latex-extra``, ``texlive-xetex``, fonts) and typesets the notebooks' HTML/Markdown outputs
(tables, widgets, the settings tables) differently from the web pages. jupyter-book's own ``pdfhtml``
builder downloads a Chromium through pyppeteer at run time, which does not work offline.

What it does:

1. build the book with ``jupyter-book build --builder singlehtml`` (every page in one HTML page, with
   numbered figures and equations, the bibliography and the book's own MathJax) into the same
   ``--path-output`` as the HTML build, so that the execution cache is reused (``COLLAPSE_PROFILE``
   and ``COLLAPSE_RUNS`` come from the caller, as for ``make book``);
2. serve that folder on 127.0.0.1 and open it in headless Chromium (selenium);
3. make every image load eagerly, wait until every image has loaded, MathJax has typeset every
   equation (no ``mjx-merror``) and the web fonts are ready; fail otherwise;
4. open folded content, add print CSS (no sidebars, header, navigation, buttons or code cells that
   the web book hides; one chapter per new page; figures, equations and proofs kept whole) and print
   with DevTools ``Page.printToPDF`` (A4, page numbers and the licence in the footer, PDF bookmarks
   from the headings).

Usage::

    python _ext/make_pdf.py [--path-output DIR] [--no-build] [--output FILE.pdf]

This file sits in ``_ext/`` beside the Sphinx extensions but is not one (``_config.yml`` does not load it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PDF = Path("_build") / "pdf" / "model-collapse-rerun.pdf"
TITLE = "Model collapse, rerun"

#: Print CSS added to the single page before printing (the HTML book itself is unchanged).
PRINT_CSS = """
@media print {
  html, body { background: #fff !important; }
  /* the web page's furniture */
  .bd-header, .bd-header-announcement, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article,
  .header-article, .prev-next-area, .prev-next-footer, .bd-footer, .bd-footer-article, .footer-items__start,
  #pst-back-to-top, .skip-link, .search-button-field, .bd-search, .theme-switch-button, a.headerlink,
  button.copybtn, .toggle-button, .executed-notebook, .sidebar-toggle, .primary-toggle, .secondary-toggle,
  .dropdown-download-buttons, .article-header-buttons { display: none !important; }
  .bd-container, .bd-container__inner, .bd-page-width, .bd-main, .bd-content, .bd-article-container,
  .bd-article { max-width: none !important; width: auto !important; margin: 0 !important;
                padding: 0 !important; display: block !important; overflow: visible !important; }
  body { font-size: 10.5pt; }
  /* one chapter per new page (singlehtml puts <span id="document-..."> before each chapter) */
  span[id^="document-"] + section, span[id^="document-"] + div > section:first-child { break-before: page; }
  h1, h2, h3, h4, .caption, figcaption { break-after: avoid; }
  figure, .figure, img, svg, table, div.math, mjx-container[display="true"], .proof, .admonition,
  .exercise, .solution, div.cell_output > div.output { break-inside: avoid; }
  img { max-width: 100% !important; height: auto !important; }
  pre, code { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  div.cell_output, .output, .highlight, pre, .table-wrapper, .pst-scrollable-table-container {
    max-height: none !important; overflow: visible !important; }
  a, a:visited { color: inherit !important; text-decoration: none !important; }
  /* code cells hidden in the web book stay hidden; other folded content (dropdowns, solutions) is
     printed open, without the web page's "Show code cell output" line */
  details.hide.above-input { display: none !important; }
  details.hide > summary { display: none !important; }
}
"""

#: Footer of every printed page: the title, the licence and the page number.
FOOTER = ('<div style="font-size:7.5px; width:100%; padding:0 14mm; color:#555; '
          'font-family:sans-serif; display:flex; justify-content:space-between;">'
          f'<span>{TITLE} &#183; text and figures CC BY 4.0, code MIT</span>'
          '<span><span class="pageNumber"></span> / <span class="totalPages"></span></span></div>')

WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
document.documentElement.dataset.theme = 'light';
document.querySelectorAll('img[loading]').forEach(i => i.loading = 'eager');
const images = Promise.all([...document.images].map(i => (i.complete ? Promise.resolve() :
    new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); }))));
const math = (window.MathJax && MathJax.startup) ? MathJax.startup.promise : Promise.resolve();
Promise.all([images, math]).then(() => document.fonts.ready).then(() => done('ok'))
       .catch(e => done('error: ' + e));
"""

CHECK_PAGE = """
const nodes = [...document.querySelectorAll('span.math, div.math')];
return {
  math: nodes.length,
  typeset: nodes.filter(e => e.querySelector('mjx-container')).length,
  merror: document.querySelectorAll('mjx-merror').length,
  broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  images: document.images.length,
};
"""


#: Links into the page itself become in-document links of the PDF; other links to the local server
#: (the notebook downloads, the index) are left as plain text, since they would point at 127.0.0.1.
#: Folded content (<details>) is opened; the print CSS hides the code cells that the web book hides.
LOCAL_LINKS = """
const page = arguments[0];
for (const a of document.querySelectorAll('a[href]')) {
  const href = a.getAttribute('href');
  if (href.startsWith(page + '#')) { a.setAttribute('href', href.slice(page.length)); continue; }
  if (href.startsWith('#') || /^(https?|mailto):/.test(href)) continue;
  a.removeAttribute('href');
}
document.querySelectorAll('details').forEach(d => { d.open = true; });
"""


class PDFError(RuntimeError):
    """The book could not be printed as it should be (missing browser, broken image, maths not typeset)."""


def build_singlehtml(path_output: Path, root: Path = ROOT) -> Path:
    """Build the book as one HTML page into ``path_output/_build/singlehtml``; return that folder."""
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(root), "--path-output", str(path_output),
               "--warningiserror", "--keep-going", "--builder", "singlehtml"]
    if subprocess.run(command).returncode:
        raise PDFError("the single-page build failed (its messages are above)")
    return Path(path_output) / "_build" / "singlehtml"


def root_page(singlehtml: Path, root: Path = ROOT) -> Path:
    """The single page itself: ``<root doc>.html`` (the book's root is ``chapters/index``)."""
    import yaml

    return Path(singlehtml) / (yaml.safe_load((root / "_toc.yml").read_text())["root"] + ".html")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    page = ""

    def translate_path(self, path):
        # Sphinx writes every URL of the single page relative to the build's top folder (_static/,
        # _images/, chapters/index.html#...), although the page itself is chapters/index.html: serve it at /
        if path.split("?")[0] in ("/", "/book.html"):
            return self.page
        return super().translate_path(path)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_book(singlehtml: Path, page: Path):
    """Serve ``singlehtml`` on 127.0.0.1 at a free port, with ``page`` at ``/book.html``; yield the base URL."""
    handler = functools.partial(type("Handler", (_QuietHandler,), {"page": str(page)}),
                                directory=str(singlehtml))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def browser():
    """A headless Chromium driven by chromedriver (both Debian packages, found on the PATH)."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not (chromium and chromedriver):
        raise PDFError("make pdf needs headless Chromium and chromedriver: "
                       "apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1100,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(180)
    driver.set_script_timeout(180)
    return driver


def print_pdf(singlehtml: Path, output: Path) -> dict:
    """Print ``singlehtml/index.html`` to ``output``; return what was checked on the page."""
    page_file = root_page(singlehtml)
    if not page_file.exists():
        raise PDFError(f"no single-page build at {page_file}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with serve_book(singlehtml, page_file) as base:
        driver = browser()
        try:
            driver.get(f"{base}/book.html")
            state = driver.execute_async_script(WAIT_FOR_PAGE)
            if state != "ok":
                raise PDFError(f"the page did not finish loading: {state}")
            page = driver.execute_script(CHECK_PAGE)
            if page["typeset"] != page["math"] or page["merror"]:
                raise PDFError(f"MathJax typeset {page['typeset']} of {page['math']} equations, "
                               f"{page['merror']} with errors")
            if page["broken"]:
                raise PDFError(f"images that did not load: {page['broken']}")
            driver.execute_script(LOCAL_LINKS, page_file.relative_to(singlehtml).as_posix())
            driver.execute_script("const s = document.createElement('style'); s.textContent = arguments[0];"
                                  "document.head.appendChild(s);", PRINT_CSS)
            driver.execute_script(f"document.title = {TITLE!r};")
            result = driver.execute_cdp_cmd("Page.printToPDF", {
                "paperWidth": 8.27, "paperHeight": 11.69,          # A4, in inches
                "marginTop": 0.6, "marginBottom": 0.7, "marginLeft": 0.6, "marginRight": 0.6,
                "printBackground": True,
                "displayHeaderFooter": True,
                "headerTemplate": "<span></span>",
                "footerTemplate": FOOTER,
                "generateDocumentOutline": True,                 # PDF bookmarks from the headings
                "generateTaggedPDF": True,
            })
        finally:
            driver.quit()
    output.write_bytes(base64.b64decode(result["data"]))
    return page


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path-output", type=Path, default=ROOT,
                        help="the folder that holds _build/ (jupyter-book's --path-output; default: the book)")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"the PDF to write (default: <path-output>/{DEFAULT_PDF})")
    parser.add_argument("--no-build", action="store_true", help="print the existing _build/singlehtml")
    args = parser.parse_args(argv)
    output = (args.output or args.path_output / DEFAULT_PDF).resolve()
    start = time.perf_counter()
    try:
        if args.no_build:
            singlehtml = args.path_output / "_build" / "singlehtml"
        else:
            singlehtml = build_singlehtml(args.path_output)
        built = time.perf_counter()
        page = print_pdf(singlehtml, output)
    except PDFError as error:
        print(f"make_pdf: {error}", file=sys.stderr)
        return 1
    print(f"{page['images']} images and {page['math']} equations printed "
          f"(single-page build {built - start:.0f} s, printing {time.perf_counter() - built:.0f} s)")
    print(f"PDF of the book: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
