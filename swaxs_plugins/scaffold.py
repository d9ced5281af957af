"""``swaxs new-plugin NAME --kind KIND``: an installable plugin package that works and is tested out of the box.

It writes ``NAME/`` with a ``pyproject.toml`` declaring the entry point, the package (registration in
``__init__.py``, the step in ``step.py``: typed parameters, the ``curves`` layout in and out, blocks that
carry their own data so that workers get only what ``process`` needs), a README, and tests on
:mod:`swaxs_plugins.testing` that pass as written. The step scales every curve by a parameter: replace its
``process`` with your method.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from swaxs_plugins import __version__
from swaxs_plugins.core.errors import SwaxsError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "A swaxs_plugins step: {kind}/{name}"
readme = "README.md"
requires-python = ">=3.10"
license = {{text = "MIT"}}
dependencies = ["swaxs-plugins>={version}"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

[project.entry-points.swaxs_plugins]
{package} = "{package}"

[tool.setuptools]
packages = ["{package}"]
'''

INIT = '''"""{kind}/{name}: a swaxs_plugins step, registered here; its module is imported when a pipeline selects it."""

from swaxs_plugins.core.hookspecs import StepImpl, hookimpl


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``{kind}/{name}`` (its version is this distribution's)."""
    return [StepImpl(kind="{kind}", name="{name}", cls="{package}.step:{cls}",
                     description="scales every curve by a factor (replace with your method)")]
'''

STEP = '''"""{kind}/{name}: every curve I[scan, y, x, q] times ``factor``, errors likewise.

    I' = factor · I,   σ' = |factor| · σ
"""

from __future__ import annotations

import numpy as np

from swaxs_plugins.core.step import InputSpec, Step, StepContext, StepParameters, parameter
from swaxs_plugins.data.curves import Curves, read_curves, write_curves
from swaxs_plugins.io.nexus import StepWriter


class {cls}Parameters(StepParameters):
    factor: float = parameter(1.0, description="multiplies every curve and its errors")


class {cls}(Step):
    """Scales the curves of an earlier step (any step writing the curves layout)."""

    Parameters = {cls}Parameters
    inputs = {{"curves": InputSpec("curves to scale", layouts=("curves",))}}
    produces = ("curves",)
    setup_only = ("curves",)          # stays in the main process: the blocks carry what process needs
    params: {cls}Parameters

    def setup(self, context: StepContext) -> None:
        self.curves: Curves = read_curves(context.inputs["curves"])

    def blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.curves.intensity[scan], self.curves.errors[scan]) for scan in range(len(self.curves.intensity))]

    def process(self, block: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        intensity, errors = block
        return intensity * self.params.factor, errors * abs(self.params.factor)

    def finalize(self, results: list[tuple[np.ndarray, np.ndarray]], writer: StepWriter) -> None:
        intensity = np.stack([r[0] for r in results])
        errors = np.stack([r[1] for r in results])
        write_curves(writer.entry, self.curves.with_values(intensity, errors), long_name="scaled intensity",
                     default=True)
'''

TEST = '''"""{kind}/{name} on the test inputs of swaxs_plugins.testing (curves I = x index + 1, errors 0.1)."""

import numpy as np
from swaxs_plugins.data.curves import read_curves
from swaxs_plugins.testing import run_step

from {package}.step import {cls}


def test_every_curve_and_its_errors_are_scaled(swaxs_inputs, tmp_path):
    source = swaxs_inputs.curves()
    result = run_step({cls}, {{"factor": 2.5}}, {{"curves": source}}, workdir=tmp_path)
    before, after = read_curves(source), read_curves(result.ref)
    np.testing.assert_allclose(after.intensity, 2.5 * before.intensity, rtol=1e-6)
    np.testing.assert_allclose(after.errors, 2.5 * before.errors, rtol=1e-6)
    assert result.problems == []


def test_threads_give_the_same_curves(swaxs_inputs, tmp_path):
    source = swaxs_inputs.curves()
    serial = run_step({cls}, {{"factor": -1.0}}, {{"curves": source}}, workdir=tmp_path / "serial")
    threads = run_step({cls}, {{"factor": -1.0}}, {{"curves": source}}, workdir=tmp_path / "threads",
                       executor="threads")
    np.testing.assert_array_equal(read_curves(serial.ref).intensity, read_curves(threads.ref).intensity)
'''

CONFTEST = '''pytest_plugins = ["swaxs_plugins.testing"]
'''

README = '''# {name}

A [swaxs_plugins](https://github.com/swaxs-plugins/swaxs_plugins) step, `{kind}/{name}`: it scales every
curve of an earlier step (any step writing the `curves` layout) by `factor`, and writes curves again, so
any built-in step that takes curves (mask, fit, background, difference) can follow it.

```bash
pip install -e ".[test]"
swaxs plugins                  # lists {kind}/{name} with this distribution's version
swaxs plugins verify {name}    # the contract checks: parameters, layouts, pickling, executors, determinism
pytest                         # the tests in tests/
```

In a pipeline:

```yaml
  - {{id: scaled, kind: {kind}, impl: {name}, inputs: {{curves: integrated}}, params: {{factor: 2.0}}}}
```

Replace `process` in `{package}/step.py` with your method; keep it pure (same block, same result on any
worker). What `process` needs travels in its blocks; attributes named in `setup_only` stay in the main
process. See swaxs_plugins' docs/writing-a-plugin.md.
'''


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def new_plugin(name: str, kind: str, folder: Path) -> Path:
    """Write the package ``folder / name`` (module docstring); refuses a bad name or an existing folder."""
    if not NAME_PATTERN.fullmatch(name):
        raise SwaxsError(f"new-plugin: '{name}' is not a plugin name: lower-case letters and digits, words joined by "
                         "'-' (e.g. acme-despike)")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
        raise SwaxsError(f"new-plugin, option --kind: '{kind}' is not a step kind name (lower-case, e.g. background)")
    package = name.replace("-", "_")
    if keyword.iskeyword(package):
        raise SwaxsError(f"new-plugin: '{name}' makes the package name '{package}', a Python keyword")
    root = Path(folder) / name
    if root.exists():
        raise SwaxsError(f"new-plugin: {root} exists already; choose another name or folder (-o)")
    values = {"name": name, "kind": kind, "package": package, "cls": class_name(name), "version": __version__}
    files = {"pyproject.toml": PYPROJECT, "README.md": README, f"{package}/__init__.py": INIT,
             f"{package}/step.py": STEP, "tests/conftest.py": CONFTEST, "tests/test_step.py": TEST}
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return root
