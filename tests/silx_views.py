"""What silx's own viewer shows when a file is opened: the data panel of ``silx view``, headless.

The panel is silx view's (``silx.app.view.DataPanel`` with its ``ApplicationContext``, whose shared
colormap carries the NXdata's SILX_style), given the file's root as ``silx view`` gives it on a
click; :func:`opened_view` reports the view silx selected, the axis labels, the scales, the
curves' legends and the image shown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@dataclass
class OpenedView:
    """The plot silx opens a file on."""

    view: str                       # the silx DataView class: _NXdataCurveView, _NXdataImageView, ...
    x_label: str = ""
    y_label: str = ""
    x_scale: str = ""
    y_scale: str = ""
    curves: list[str] = field(default_factory=list)
    colormap: str = ""              # the image's colour normalisation: linear, log, ...
    image: np.ndarray | None = None


def qt_application():
    """The process's QApplication (offscreen), created on first use."""
    from silx.gui import qt

    return qt.QApplication.instance() or qt.QApplication([])


def opened_view(path: Path) -> OpenedView:
    """Open ``path`` in silx view's data panel and describe the plot it selects for the file root."""
    import silx.io
    from silx.app.view.ApplicationContext import ApplicationContext
    from silx.app.view.DataPanel import DataPanel
    from silx.gui import qt

    app = qt_application()
    window = qt.QMainWindow()
    panel = DataPanel(window, ApplicationContext(window))
    handle = silx.io.open(str(path))
    try:
        panel.setData(handle)
        app.processEvents()
        return _describe(_leaf_view(panel))
    finally:
        panel.setData(None)
        app.processEvents()
        window.deleteLater()
        app.processEvents()
        handle.close()


def _leaf_view(panel):
    from silx.gui.data.DataViewerFrame import DataViewerFrame

    view = panel.findChild(DataViewerFrame).displayedView()
    while hasattr(view, "getCurrentView") and view.getCurrentView() is not None:
        view = view.getCurrentView()
    return view


def _describe(view) -> OpenedView:
    widget = view.getWidget()
    plot = widget.getPlot() if hasattr(widget, "getPlot") else getattr(widget, "_plot", None)
    opened = OpenedView(type(view).__name__)
    if plot is None:
        return opened
    x_axis, y_axis = plot.getXAxis(), plot.getYAxis()
    opened.x_label, opened.y_label = x_axis.getLabel(), y_axis.getLabel()
    opened.x_scale, opened.y_scale = x_axis.getScale(), y_axis.getScale()
    opened.curves = [curve.getName() for curve in plot.getAllCurves()]
    image = plot.getActiveImage()
    if image is not None:
        opened.colormap = image.getColormap().getNormalization()
        opened.image = np.array(image.getData(copy=True))
    return opened
