"""Screenshots of registry pages in headless Chromium, for the README and for review.

Usage: python scripts/screenshot.py USER PASSWORD OUT.png PATH [PATH ...]
(one PNG per path: OUT.png, OUT-2.png, ...); the server must be running on BASE_URL.
"""

import os
import sys

from playwright.sync_api import sync_playwright

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(user, password, out, *paths):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900}, locale=os.environ.get("LOCALE", "en-US"))
        page.goto(f"{BASE_URL}/login/")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        for index, path in enumerate(paths):
            page.goto(BASE_URL + path)
            name = out if index == 0 else out.replace(".png", f"-{index + 1}.png")
            page.screenshot(path=name, full_page=True)
            print(name)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
