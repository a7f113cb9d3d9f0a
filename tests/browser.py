"""Opening a report in headless Chromium (Debian's chromium + chromedriver, installed by .ci/run)
through Selenium, and collecting what a reader would hit: console errors, images that did not
load or weigh too much, figures that do not open full size, local links that lead nowhere, a page
wider than the screen, and which section comes first."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def available() -> bool:
    return Path(CHROMEDRIVER).is_file() and Path(CHROMIUM).is_file()


def open_browser(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # a window cannot be narrower than about 500 px: a phone's viewport is emulated instead
    mobile = width < 600
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    return driver


# every table's last column within reach (arguments[0]: the screen's width): the table sits in a box
# that scrolls sideways (or fits the screen), the box fits the screen, and with the box scrolled to its
# end every row's last cell is in view; a list of what is cut off
CUT_TABLES = """
const screenWidth = arguments[0];  // not innerWidth: a phone's layout viewport widens to fit what overflows
return Array.from(document.querySelectorAll('table')).map((t, i) => {
  const name = t.id || ('table ' + i);
  let box = t.parentElement;
  while (box && box !== document.body && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) {
    box = box.parentElement;
  }
  if (!box || box === document.body) {
    return t.getBoundingClientRect().right <= screenWidth + 1 ? null : name + ': wider than the screen, no scroll box';
  }
  const edge = box.getBoundingClientRect();
  if (edge.right > screenWidth + 1) return name + ': its scroll box is wider than the screen';
  box.scrollLeft = box.scrollWidth;
  const right = box.getBoundingClientRect().right;
  const cut = Array.from(t.rows).map(r => r.cells[r.cells.length - 1])
    .filter(c => c && c.getBoundingClientRect().right > right + 1).length;
  box.scrollLeft = 0;
  return cut ? name + ': ' + cut + ' last-column cells out of reach' : null;
}).filter(x => x)
"""


def inspect_page(driver: webdriver.Chrome, page: Path, width: int = 1280) -> dict:
    driver.get(page.resolve().as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0, "
        "i.getAttribute('alt')])"
    )
    links = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    broken_links = []
    for href in links:
        url = urlparse(href)
        if url.scheme == "file" and not Path(unquote(url.path)).exists():
            broken_links.append(href)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    # a figure opens full size: its picture is wrapped in a link to the picture's own file
    unlinked = driver.execute_script(
        "return Array.from(document.querySelectorAll('figure img'))"
        ".filter(i => !(i.parentElement.tagName === 'A' && i.parentElement.href === i.src)).map(i => "
        "i.getAttribute('src'))"
    )
    sizes = {}
    for src in driver.execute_script("return Array.from(document.images).map(i => i.src)"):
        url = urlparse(src)
        if url.scheme == "file" and Path(unquote(url.path)).is_file():
            sizes[src] = Path(unquote(url.path)).stat().st_size
    return {
        "images": len(images),
        "broken_images": [src for src, ok, _ in images if not ok],
        "missing_alt": [src for src, _, alt in images if not alt],
        "links": links,
        "broken_links": broken_links,
        "console_errors": errors,
        "external": [h for h in links if urlparse(h).scheme in ("http", "https")],
        "page_width": driver.execute_script("return document.documentElement.scrollWidth"),
        "figures_not_linked": unlinked,
        "tables": driver.execute_script("return document.querySelectorAll('table').length"),
        "cut_tables": driver.execute_script(CUT_TABLES, width),
        "image_bytes": sizes,
        "first_section": driver.execute_script(
            "const s = document.querySelector('main section'); return s ? s.id : null"
        ),
    }


def save_screenshot(driver: webdriver.Chrome, page: Path, out: Path) -> Path:
    """What a reader sees on the first screen of `page`, as PNG."""
    driver.get(page.resolve().as_uri())
    driver.save_screenshot(str(out))
    return out
