"""Screenshots of silx view's data panel on the demo's main outputs, for docs/viewing.md.

Run after ``swaxs demo DEMO``: ``python docs/make_screenshots.py DEMO`` (Qt offscreen, no display needed).
Each picture is what ``silx view`` shows when the file is clicked: the view its @default chain selects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHOTS = {  # picture name → file under the demo's processed/ folder
    "silx_operando": "operando.nxs",
    "silx_saxs_curves": "operando_steps/saxs_curves.nxs",
    "silx_waxs_fit": "operando_steps/waxs_fit.nxs",
    "silx_calibrant": "operando_steps/saxs_geometry.nxs",
    "silx_tensor": "tomography_steps/tensor.nxs",
}


def screenshot(path: Path, target: Path) -> None:
    """Open ``path`` in silx view's data panel (800 x 560) and save what it shows as ``target`` (PNG)."""
    import silx.io
    from silx.app.view.ApplicationContext import ApplicationContext
    from silx.app.view.DataPanel import DataPanel
    from silx.gui import qt

    app = qt.QApplication.instance() or qt.QApplication([])
    window = qt.QMainWindow()
    panel = DataPanel(window, ApplicationContext(window))
    window.setCentralWidget(panel)
    window.resize(800, 560)
    handle = silx.io.open(str(path))
    try:
        panel.setData(handle)
        window.show()
        for _ in range(5):
            app.processEvents()
        window.grab().save(str(target), "PNG")
    finally:
        panel.setData(None)
        app.processEvents()
        window.deleteLater()
        handle.close()


def main(demo: Path) -> None:
    images = Path(__file__).parent / "images"
    for name, relative in SHOTS.items():
        screenshot(demo / "processed" / relative, images / f"{name}.png")
        print(images / f"{name}.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
