"""The project's NeXus application definitions: well-formed NXDL, installed with the package,
and the files the project writes follow them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from nexusformat.nexus.validate import lint_nxdl

from swaxs_plugins.io.validation import combined_definitions, project_definitions, validate_file

NEXUS = Path(__file__).resolve().parents[1] / "nexus"
DEFINITIONS = sorted(NEXUS.glob("*.nxdl.xml"))


@pytest.mark.parametrize("nxdl", DEFINITIONS, ids=lambda p: p.name)
def test_every_definition_lints_clean_and_is_found_by_name(nxdl):
    assert lint_nxdl(str(nxdl)) == []
    with tempfile.TemporaryDirectory() as folder:
        found = combined_definitions(Path(folder)) / "applications" / nxdl.name
        assert found.resolve() == nxdl.resolve()


def test_the_installed_definitions_are_the_repository_ones():
    assert sorted(p.name for p in project_definitions().glob("*.nxdl.xml")) == [p.name for p in DEFINITIONS]


def test_standard_definitions_come_from_nexusformat():
    from nexusformat.nexus.utils import get_definitions

    with tempfile.TemporaryDirectory() as folder:
        found = combined_definitions(Path(folder)) / "applications" / "NXazint1d.nxdl.xml"
        assert found.resolve() == (get_definitions() / "applications" / "NXazint1d.nxdl.xml").resolve()


def test_simulated_tomography_projections_follow_their_definition(tmp_path):
    from swaxs_plugins.simulate.tomography import simulate_tomography

    files = simulate_tomography(tmp_path, seed=3)
    [report] = validate_file(files.projections)
    assert (report.definition, report.errors, report.warnings) == ("NXswaxs_segmented_projections", 0, 0)


def test_a_project_definition_extending_another_enforces_both(tmp_path):
    from swaxs_plugins.io.nexus import StepWriter

    path = tmp_path / "calibration.nxs"
    with StepWriter(path, "geometry_step", "NXswaxs_calibration") as writer:
        writer.entry["poni"] = "poni_version: 2.1\n"
    [report] = validate_file(path)
    missing = " ".join(report.messages)
    assert "/geometry_step/reduction" in missing or "NXprocess" in missing
    assert "geometry" in missing
    assert report.errors >= 2
