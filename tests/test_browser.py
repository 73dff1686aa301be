"""Open the built book in headless Chromium and check what a reader sees.

The book is built at the ``smoke`` profile into a temporary folder (the user's ``_build`` is not
touched), served on 127.0.0.1, and every page of the table of contents is loaded in Chromium:
the page loads, every image loaded, every equation was typeset by the book's own MathJax, and
every internal link points at a page (and anchor) that exists. A screenshot of each chapter is
saved to ``_build/browser-test/``. Under CI (``CI=true``) a missing browser fails the test.
"""

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from helpers import serve_folder, toc_files

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOTS = ROOT / "_build" / "browser-test"

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        pytest.fail("the browser test needs Debian's chromium and chromium-driver (.ci/run installs them)",
                    pytrace=False)
    pytestmark = pytest.mark.skip(reason="chromium/chromedriver not installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def server(built_book):
    with serve_folder(built_book) as base:
        yield base + "/"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup) { done('no MathJax'); return; }
MathJax.startup.promise.then(() => done('ok')).catch(e => done('error: ' + e));
"""


@pytest.mark.parametrize("page", toc_files())
def test_page_renders_in_a_browser(page, built_book, server, browser):
    from selenium.webdriver.common.by import By

    url = urljoin(server, f"{page}.html")
    browser.get(url)
    assert browser.title and "404" not in browser.title
    main = browser.find_element(By.TAG_NAME, "main")
    assert main.text.strip(), "the page body is empty"

    math_nodes = browser.find_elements(By.CSS_SELECTOR, "span.math, div.math")
    if math_nodes:
        assert browser.execute_async_script(WAIT_FOR_MATHJAX) == "ok"
        mathjax_src = browser.execute_script("return [...document.scripts].map(s => s.src).join(' ')")
        assert "_static/mathjax/tex-mml-chtml.js" in mathjax_src, "MathJax must come from the book itself"
        typeset = browser.execute_script(
            "return [...document.querySelectorAll('span.math, div.math')]"
            ".filter(e => e.querySelector('mjx-container')).length")
        assert typeset == len(math_nodes), f"{len(math_nodes) - typeset} equation(s) not typeset"
        assert not browser.find_elements(By.CSS_SELECTOR, "mjx-merror"), "MathJax reported an error"

    broken = browser.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"

    for href in {a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "main a[href]")}:
        parsed = urlparse(href)
        if not href.startswith(server) or parsed.path.endswith((".md", ".pdf")):
            continue
        target = built_book / parsed.path.lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        assert target.exists(), f"internal link to a missing page: {href}"
        if parsed.fragment and target.suffix == ".html":
            assert re.search(rf'id="{re.escape(parsed.fragment)}"', target.read_text()), f"missing anchor: {href}"

    if "kernelspec:" in (ROOT / f"{page}.md").read_text():
        link = browser.find_element(By.CSS_SELECTOR, "p.executed-notebook a")
        assert urlparse(link.get_attribute("href")).path.endswith(f"_notebooks/{page}.ipynb")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{page.replace('/', '_')}.png"))
