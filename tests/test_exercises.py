"""Every chapter's exercises and solutions reach the built page as exercises and hidden solutions.

A directive whose fence MyST cannot parse (for example a backtick fence with backticks in its title)
is silently rendered as a code block or as plain text, with its solution in plain view. So the tests
parse each chapter with MyST's own Markdown parser and compare:

- the directives *written* (every line that opens ```` ```{exercise} ```` or ``:::{exercise}``) with
  the directives MyST *parses*;
- the parsed exercises and solutions with the ``exercise`` and ``solution`` boxes of the built HTML
  (by label, for the exercises), every solution a dropdown (hidden until the reader opens it);
- the MyST syntax (``{name}`` roles, ```` ```{name} ```` directives) in the page's visible text with the
  syntax the chapter shows on purpose, in code spans and code blocks.
"""

import re
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from helpers import toc_files

ROOT = Path(__file__).resolve().parents[1]
EXERCISE_DIRECTIVES = ("exercise", "solution")

# A role ({name}`...`) or a directive's opening fence (```{name} or :::{name}), as literal text.
MYST_SYNTAX = re.compile(r"(?:`{3,}|:{3,})[ \t]*\{[A-Za-z][\w:.-]*\}|\{[A-Za-z][\w:.-]*\}`")
# A line that opens a directive, however MyST parses it.
DIRECTIVE_LINE = re.compile(r"^[ \t>]*(?:`{3,}|:{3,})[ \t]*\{(?P<name>[A-Za-z][\w:.-]*)\}", re.M)
# Directives whose body MyST shows as code (not parsed as Markdown).
CODE_DIRECTIVES = {"code-cell", "code", "code-block", "sourcecode", "eval-rst", "raw"}


def _parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    extensions = yaml.safe_load((ROOT / "_config.yml").read_text())["parse"]["myst_enable_extensions"]
    return create_md_parser(MdParserConfig(enable_extensions=set(extensions)), RendererHTML)


PARSER = _parser()


def _directive_name(info: str):
    m = re.match(r"\{(?P<name>[^}\s]+)\}", info.strip())
    return m.group("name") if m else None


def _body(content: str) -> str:
    """A directive's content without its options (``:key: value`` lines or a ``---`` block)."""
    lines = content.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        return "\n".join(lines[end + 1:])
    i = 0
    while i < len(lines) and re.match(r"^:[\w-]+:", lines[i]):
        i += 1
    return "\n".join(lines[i:])


def parse_directives(text: str) -> list[dict]:
    """The directives MyST parses in ``text`` (nested ones included), in order: name, argument, options."""
    found = []
    for token in PARSER.parse(text):
        name = _directive_name(token.info) if token.type in ("fence", "colon_fence") else None
        if name is None:
            continue
        argument = token.info.strip()[len(name) + 2:].strip()
        options = dict(re.findall(r"^:([\w-]+):[ \t]*(.*)$", token.content[:len(token.content) - len(_body(token.content))], re.M))
        found.append({"name": name, "argument": argument, "options": options})
        if name not in CODE_DIRECTIVES:
            found += parse_directives(_body(token.content))
    return found


def written_directives(text: str) -> list[str]:
    """The names of every directive the author wrote: each line that opens one."""
    return DIRECTIVE_LINE.findall(text)


def count_exercises(text: str) -> dict:
    """``{"exercise": (written, parsed), "solution": (written, parsed)}`` for one chapter's source."""
    written, parsed = written_directives(text), [d["name"] for d in parse_directives(text)]
    return {name: (written.count(name), parsed.count(name)) for name in EXERCISE_DIRECTIVES}


def intended_syntax(text: str) -> int:
    """How many roles and directive fences ``text`` shows on purpose, as code (code spans and code blocks)."""
    count = 0
    for token in PARSER.parse(text):
        if token.type in ("fence", "colon_fence", "code_block"):
            name = _directive_name(token.info)
            if name is None:
                count += len(MYST_SYNTAX.findall(token.content))
            elif name in CODE_DIRECTIVES:                  # its options (a figure's caption) are not code
                count += len(MYST_SYNTAX.findall(_body(token.content)))
            else:
                count += intended_syntax(_body(token.content))
        elif token.type == "inline":
            count += sum(len(MYST_SYNTAX.findall(child.content))
                         for child in token.children or [] if child.type == "code_inline")
    return count


def page_text(html_file: Path) -> str:
    """The visible text of a built page's article (no scripts, styles or navigation)."""
    soup = BeautifulSoup(html_file.read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article") or soup.body
    for tag in article(["script", "style"]):
        tag.decompose()
    return article.get_text()


# ---- the counting functions catch a broken fence ------------------------------------------------

BROKEN = """\
```{exercise} When does it halve?
:label: ex-one

Text.
```

```{solution} ex-one
:class: dropdown

Answer.
```

```{exercise} Why does `np.std` keep the variance?
:label: ex-two

Text with `code`.
```

````{solution} ex-two
:class: dropdown

Answer.
````
"""


def test_counting_detects_a_backtick_title_in_a_backtick_fence():
    counts = count_exercises(BROKEN)
    assert counts["exercise"][0] == 2 and counts["solution"][0] == 2
    assert counts["exercise"][1] < 2, "MyST cannot open a backtick fence whose title has backticks"
    assert counts != {name: (2, 2) for name in EXERCISE_DIRECTIVES}
    fixed = BROKEN.replace("```{exercise} Why does `np.std` keep the variance?", ":::{exercise} Why does `np.std` keep the variance?")
    fixed = fixed.replace("Text with `code`.\n```", "Text with `code`.\n:::")
    assert count_exercises(fixed) == {name: (2, 2) for name in EXERCISE_DIRECTIVES}


def test_intended_syntax_counts_only_code():
    shown = "A role is written `` {ref}`label` ``; this one is live: {ref}`label`.\n\n```md\n:::{note}\n:::\n```\n"
    assert intended_syntax(shown) == 2
    assert len(MYST_SYNTAX.findall("Why does {exercise} and ```{solution} x")) == 1
    assert len(MYST_SYNTAX.findall("see {cite}`key` and \\(\\hat\\sigma_{g}\\)")) == 1


# ---- every chapter --------------------------------------------------------------------------------

CHAPTERS = [page for page in toc_files() if (ROOT / f"{page}.md").exists()]


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_written_exercise_and_solution_is_parsed(page):
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    for name, (written, parsed) in count_exercises(text).items():
        assert written == parsed, f"{page}: {written} {name} directive(s) written, {parsed} parsed by MyST"
    written = written_directives(text)
    parsed = [d["name"] for d in parse_directives(text)]
    assert sorted(written) == sorted(parsed), f"{page}: a directive MyST does not parse"


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_solution_is_a_dropdown_in_the_source(page):
    directives = parse_directives((ROOT / f"{page}.md").read_text(encoding="utf-8"))
    exercises = [d["options"].get("label") for d in directives if d["name"] == "exercise"]
    solutions = [d for d in directives if d["name"] == "solution"]
    assert all(exercises), f"{page}: an exercise without a :label:"
    assert sorted(s["argument"] for s in solutions) == sorted(exercises), f"{page}: not one solution per exercise"
    for solution in solutions:
        assert "dropdown" in solution["options"].get("class", "").split(), \
            f"{page}: the solution to {solution['argument']} is not hidden (:class: dropdown)"


@pytest.mark.parametrize("page", CHAPTERS)
def test_built_page_has_every_exercise_and_a_hidden_solution(page, built_book):
    directives = parse_directives((ROOT / f"{page}.md").read_text(encoding="utf-8"))
    labels = [d["options"].get("label") for d in directives if d["name"] == "exercise"]
    solutions = [d for d in directives if d["name"] == "solution"]
    soup = BeautifulSoup((built_book / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    boxes = soup.select("div.exercise")
    assert [box.get("id") for box in boxes] == labels, f"{page}: the built exercises differ from the source's"
    built = soup.select("div.solution")
    assert len(built) == len(solutions), f"{page}: {len(solutions)} solutions in the source, {len(built)} built"
    for box in built:
        assert "dropdown" in box.get("class", []), f"{page}: solution {box.get('id')} is shown by default"
        link = box.select_one(".admonition-title a[href]")
        assert link is not None and link["href"].lstrip("#") in labels, f"{page}: a solution not tied to its exercise"


@pytest.mark.parametrize("page", CHAPTERS)
def test_no_myst_syntax_reaches_the_page_as_text(page, built_book):
    source = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    shown = MYST_SYNTAX.findall(page_text(built_book / f"{page}.html"))
    assert len(shown) == intended_syntax(source), \
        f"{page}: MyST syntax printed literally in the page: {shown[:5]}"


def test_the_syntax_check_sees_a_broken_page(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><body><article><p>Fine {cite}</p><pre>```{exercise} Why does</pre>"
                    "<p>see {numref}`fig-x`</p></article></body></html>")
    assert len(MYST_SYNTAX.findall(page_text(page))) == 2


# ---- what a reader sees: the solutions are folded until opened --------------------------------------

CHAPTERS_WITH_SOLUTIONS = [page for page in CHAPTERS
                           if any(d["name"] == "solution" for d in parse_directives((ROOT / f"{page}.md").read_text(encoding="utf-8")))]


@pytest.fixture(scope="module")
def browser():
    import shutil

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        if __import__("os").environ.get("CI"):
            pytest.fail("the browser checks need Debian's chromium and chromium-driver", pytrace=False)
        pytest.skip("chromium/chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--window-size=1280,2000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.mark.parametrize("page", CHAPTERS_WITH_SOLUTIONS)
def test_solutions_are_folded_in_the_browser_until_opened(page, built_book, browser):
    from helpers import serve_folder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with serve_folder(built_book) as base:
        browser.get(f"{base}/{page}.html")
        exercises = browser.find_elements(By.CSS_SELECTOR, "div.exercise")
        solutions = browser.find_elements(By.CSS_SELECTOR, "div.solution")
        assert solutions and len(solutions) == len(exercises)
        for solution in solutions:
            body = solution.find_element(By.CSS_SELECTOR, "section")
            WebDriverWait(browser, 10).until(lambda _: not body.is_displayed(),
                                             message=f"{page}: solution {solution.get_attribute('id')} is shown")
            assert solution.find_element(By.CSS_SELECTOR, ".admonition-title").is_displayed()
        solution = solutions[0]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", solution)
        solution.find_element(By.CSS_SELECTOR, ".admonition-title").click()
        body = solution.find_element(By.CSS_SELECTOR, "section")
        WebDriverWait(browser, 10).until(lambda _: body.is_displayed(), message=f"{page}: a solution does not open")
