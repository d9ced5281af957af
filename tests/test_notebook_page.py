"""docs/notebook.md runs as written: every python cell in order, each printing exactly the output shown
below it, and the values it recovers agree with the inputs the page builds (known answers)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "notebook.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def cells(text: str) -> list[tuple[str, str | None]]:
    """(code, shown output) per python block; the output is the text block right after it, if any."""
    blocks = [(match.group(1), match.group(2), match.start(), match.end()) for match in FENCE.finditer(text)]
    found = []
    for index, (language, body, _, end) in enumerate(blocks):
        if language != "python":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        shown = following[1] if following and following[0] == "text" and not text[end:following[2]].strip() else None
        found.append((body, shown))
    return found


@pytest.fixture(scope="module")
def page_run() -> tuple[list[tuple[str, str | None, str]], dict]:
    namespace: dict = {"__name__": "notebook"}
    runs = []
    for code, shown in cells(PAGE.read_text()):
        printed = io.StringIO()
        # numpy's default print options, as in a fresh notebook (a library imported earlier may change them)
        with contextlib.redirect_stdout(printed), np.printoptions(threshold=1000, edgeitems=3, linewidth=75):
            exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own cells
        runs.append((code, shown, printed.getvalue()))
    return runs, namespace


def test_every_cell_prints_what_the_page_shows(page_run) -> None:
    runs, _ = page_run
    assert len(runs) >= 7
    for code, shown, printed in runs:
        if shown is not None:
            assert printed == shown, f"cell\n{code}\nprinted\n{printed}\nthe page shows\n{shown}"
    assert sum(shown is not None for _, shown, _ in runs) == len(runs)


def test_integration_finds_the_ring(page_run) -> None:
    _, ns = page_run
    assert ns["result"].intensity.shape == (3, 300)
    assert ns["ring_q"] == pytest.approx(0.1076, abs=2e-4)
    assert np.all(ns["result"].sigma[0] > 0)


def test_fits_recover_the_parameters(page_run) -> None:
    _, ns = page_run
    fit, model = ns["fit"], ns["model"]
    centre = model.names.index("c002_centre")
    np.testing.assert_allclose(fit.params[:, centre], ns["q002"], atol=5 * fit.stderr[:, centre].max())
    assert np.all(fit.status == ns["FitStatus"].CONVERGED)


def test_masks_and_differences_are_the_known_ones(page_run) -> None:
    _, ns = page_run
    electrode = np.zeros((8, 10), bool)
    electrode[:, 3:8] = True
    np.testing.assert_array_equal(ns["masks"]["electrode"], electrode)
    np.testing.assert_array_equal(np.flatnonzero(ns["masks"]["interface"].any(axis=0)), [7])
    expected = ns["growth"][-1] * np.linspace(0, 1, 5)
    np.testing.assert_allclose(ns["change"][-1, 1], expected)
    assert np.isnan(ns["change"][:, 0, 0]).all()
    np.testing.assert_array_equal(ns["onset_map"](ns["change"], ns["sigma"], 0.1, 5)[1], [-1, 3, 2, 2, 2])
