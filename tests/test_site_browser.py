"""The course's website (`make site`) as a reader sees it, in Debian's Chromium
(tests/browser_helpers.py): served from a temporary build by Python's http.server on
127.0.0.1, every page opens with no request to any other host and no failed request, its
equations are typeset by the site's own MathJax (no raw TeX left in them), and every image
has loaded. A screenshot of each page goes to artifacts/browser/site-NN.png (NN: the
notebook's number, 00 the start page).

tests/test_site.py checks the same site as files (no solution, no hidden test, no external
URL in the HTML); this checks what the browser actually does with it: a script that loads
another from a CDN only shows here.
"""
from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from browser_helpers import chromium_browser
from test_site import site  # noqa: F401 (the built site, a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "browser"
TIMEOUT = 30_000  # ms for a page to load and typeset; each takes about a second


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # one line per file on stderr would bury pytest's report


@pytest.fixture(scope="module")
def served(site):  # noqa: F811 (the fixture imported above)
    """The built site on a free loopback port: its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_browser(ARTIFACTS.glob("site-*.png")) as browser:
        yield browser


def is_local(url: str, host: str) -> bool:
    """Whether loading `url` stays on this machine: the site's server, or no network at all
    (about:blank frames, data: and blob: URLs)."""
    parts = urlsplit(url)
    return parts.scheme in ("about", "data", "blob") or (
        parts.scheme == "http" and parts.netloc == host)


def screenshot_name(page_file: str) -> str:
    stem = Path(page_file).stem
    number = "00" if stem == "index" else stem.split("_")[0]
    return f"site-{number if number.isdigit() else stem}.png"


# Sphinx's math elements (MathJax's own output also has elements of class "math").
_SPHINX_MATH = "'.math.notranslate'"

# MathJax 2 is loaded (async) only on pages with math; once it is ready, a callback pushed on
# its queue runs after the start-up typeset.
_MATHJAX_READY_JS = "() => window.MathJax && MathJax.Hub && MathJax.isReady"
_TYPESET_JS = "() => new Promise(resolve => MathJax.Hub.Queue(() => resolve(true)))"

# Per math element: was it typeset (MathJax's output element is there, no error), and does
# its rendered text still show TeX delimiters or commands?
_MATH_JS = """() => [...document.querySelectorAll(""" + _SPHINX_MATH + """)].map(el => ({
  html: el.outerHTML.slice(0, 120),
  typeset: !!el.querySelector('.MathJax, .MathJax_Display'),
  error: !!el.querySelector('.MathJax_Error, .noError, merror'),
  raw: /\\\\[()\\[\\]]|\\\\(frac|sum|begin|mathrm|text)\\b/.test(el.innerText),
  width: el.getBoundingClientRect().width,
}))"""

_IMAGES_JS = """() => [...document.images].map(img => ({
  src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth,
}))"""


def test_every_page_renders_offline_with_equations_and_images(browser, served, site):  # noqa: F811
    host = urlsplit(served).netloc
    files = sorted(p.relative_to(site).as_posix() for p in site.glob("*.html"))
    assert "index.html" in files and len(files) >= 9
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests, failures = [], []
    # Record every request and let none leave the machine: a request to another host is
    # aborted (and fails the test below), so the test never waits on the network.
    context.route(lambda url: not is_local(url, host), lambda route: route.abort())
    context.on("request", lambda request: requests.append(request.url))
    # (MathJax points a frame at about:blank, which Chromium reports as failed: no network.)
    context.on("requestfailed", lambda request: request.url != "about:blank"
               and failures.append(f"{request.url}: {request.failure}"))
    context.on("response", lambda response: response.status >= 400 and failures.append(
        f"{response.url}: HTTP {response.status}"))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    typeset_pages = 0
    for file in files:
        page.goto(served + file, wait_until="load", timeout=TIMEOUT)
        math = page.evaluate(_MATH_JS)
        if math:
            page.wait_for_function(_MATHJAX_READY_JS, timeout=TIMEOUT)
            page.evaluate(_TYPESET_JS)
            math = page.evaluate(_MATH_JS)
            typeset_pages += 1
        bad = [m["html"] for m in math if not m["typeset"] or m["error"] or m["raw"]
               or m["width"] <= 0]
        assert not bad, f"{file}: {len(bad)} of {len(math)} equations not rendered: {bad[:3]}"
        page.wait_for_function("() => [...document.images].every(img => img.complete)",
                               timeout=TIMEOUT)
        images = page.evaluate(_IMAGES_JS)
        broken = [i["src"] for i in images if i["width"] <= 0]
        assert not broken, f"{file}: images that did not load: {broken}"
        if file.split("_")[0].isdigit():
            assert images, f"{file}: a notebook page without a figure"
        path = ARTIFACTS / screenshot_name(file)
        page.screenshot(path=str(path))
        print(f"{file}: {len(math)} equations, {len(images)} images; screenshot {path}")
    context.close()
    external = [url for url in requests if not is_local(url, host)]
    assert not external, f"requests to other hosts: {external}"
    assert not failures, f"failed requests: {failures}"
    assert not errors, f"JavaScript errors: {errors}"
    assert typeset_pages >= 4, "MathJax typeset fewer pages than have equations"
