"""Copy the official admin UI into the package: ``make admin-ui`` runs it after ``npm ci``.

From ``node_modules`` (versions pinned in ``package-lock.json``) to
``src/flask_realtime/static/admin-ui/``:

- ``@socket.io/admin-ui/ui/dist``: the built UI (its source maps left out);
- ``@mdi/font``: the icon font's stylesheet and its woff2/woff files, under ``mdi/``;
- both licences (MIT, Apache-2.0).

``index.html`` is rewritten to load the icons from ``mdi/`` rather than a CDN and to drop
the web-font link (the UI falls back to the browser's sans-serif): the UI then loads
nothing from outside the server that serves it.

Usage: ``python tools/admin-ui/install.py`` (after ``npm ci`` in ``tools/admin-ui``).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = HERE / "node_modules"
UI = MODULES / "@socket.io" / "admin-ui"
MDI = MODULES / "@mdi" / "font"
TARGET = HERE.parent.parent / "src" / "flask_realtime" / "static" / "admin-ui"

_MDI_LINK = re.compile(
    r'<link rel="stylesheet" href="https://cdn\.jsdelivr\.net/npm/@mdi/font[^"]*">'
)
_FONT_LINK = re.compile(r'<link rel="stylesheet" href="https://fonts\.googleapis\.com/[^"]*">')


def main() -> int:
    if not (UI / "ui" / "dist" / "index.html").is_file() or not MDI.is_dir():
        print(f"install.py: run `npm ci` in {HERE} first", file=sys.stderr)
        return 1
    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(UI / "ui" / "dist", TARGET, ignore=shutil.ignore_patterns("*.map"))
    shutil.copy(UI / "LICENSE", TARGET / "LICENSE")
    fonts = TARGET / "mdi" / "fonts"
    fonts.mkdir(parents=True)
    (TARGET / "mdi" / "css").mkdir()
    shutil.copy(MDI / "css" / "materialdesignicons.min.css", TARGET / "mdi" / "css")
    for name in ("materialdesignicons-webfont.woff2", "materialdesignicons-webfont.woff"):
        shutil.copy(MDI / "fonts" / name, fonts / name)
    shutil.copy(MDI / "LICENSE", TARGET / "mdi" / "LICENSE")
    index = TARGET / "index.html"
    page = index.read_text(encoding="utf-8")
    page, icons = _MDI_LINK.subn(
        '<link rel="stylesheet" href="mdi/css/materialdesignicons.min.css">', page
    )
    page, fonts_dropped = _FONT_LINK.subn("", page)
    if icons != 1 or fonts_dropped != 1 or "https://" in page:
        print("install.py: index.html has changed shape; check the links it loads", file=sys.stderr)
        return 1
    index.write_text(page, encoding="utf-8")
    print(f"admin UI installed in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
