"""mask/rules: masks of the simulated experiment against the true material masks (IoU), the rule
language (comparisons, and/or/not, morphology, fit maps) on known arrays, and bad rules."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest_operando import operando_run, run_step, step_ref  # noqa: F401  (fixture)
from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.rules import RuleContext, distance_to, evaluate_rule, largest_component
from swaxs_plugins.steps.mask import RuleMask, read_masks


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_masks_match_the_true_materials(operando_run):
    masks = read_masks(step_ref(operando_run.steps["map_masks"], "map_masks", "mask"))
    truth = operando_run.truth["masks"]
    for name in ("current_collector", "electrode", "electrolyte", "collector_interface"):
        assert iou(masks[name], truth[name]) >= 0.98, name
    handle, entry = operando_run.entry("map_masks")
    with handle:
        assert entry["masks/electrode"].attrs["rule"].startswith("largest(")
        assert entry["masks/electrode/mask"].dtype == np.uint8
        assert entry["masks/electrode/x"].attrs["long_name"]
    assert all(r.ok for r in validate_file(operando_run.steps["map_masks"]))


def context(**maps):
    return RuleContext({name: (lambda v=v: v) for name, v in maps.items()}, {})


def test_rule_language_on_known_maps():
    t = np.array([[0.05, 0.5, 0.9], [0.05, 0.5, 0.9]])
    rules = context(T=t)
    assert evaluate_rule("T < 0.1", rules).tolist() == [[True, False, False]] * 2
    assert evaluate_rule("0.1 <= T < 0.8", rules).tolist() == [[False, True, False]] * 2
    assert evaluate_rule("not (T < 0.1 or T > 0.8)", rules).tolist() == [[False, True, False]] * 2
    rules.masks["cc"] = t < 0.1
    assert evaluate_rule("distance(cc) <= 1 and not cc", rules).tolist() == [[False, True, False]] * 2


def test_morphology_on_known_masks():
    noisy = np.zeros((7, 9), bool)
    noisy[1:6, 1:5] = True
    noisy[3, 3] = False           # a hole: closing fills it
    noisy[0, 8] = True            # a speck: opening and largest remove it
    rules = RuleContext({}, {"m": noisy})
    closed = evaluate_rule("closing(m, 1)", rules)
    assert closed[3, 3] and closed[0, 8]
    assert not evaluate_rule("opening(m, 1)", rules)[0, 8]
    largest = largest_component(noisy)
    assert largest.sum() == noisy.sum() - 1 and not largest[0, 8]
    assert distance_to(np.eye(3, dtype=bool))[0, 2] == pytest.approx(np.sqrt(2))


@pytest.mark.parametrize("rule, message", [
    ("T + 1", "not allowed"),
    ("T", "number map, not a mask"),
    ("__import__('os')", "unknown function"),
    ("Q < 1", "unknown name 'Q'"),
    ("T <", "not an expression"),
])
def test_bad_rules_are_errors_that_name_the_rule(rule, message):
    with pytest.raises(SwaxsError, match=message):
        evaluate_rule(rule, context(T=np.ones((2, 2))))


def test_empty_mask_and_out_of_range_q_are_errors_naming_step_and_mask(operando_run, tmp_path):
    inputs = {"transmission": step_ref(operando_run.steps["saxs_transmission"], "saxs_transmission", "transmission"),
              "saxs": step_ref(operando_run.steps["saxs_transmission"], "saxs_transmission", "transmission")}
    with pytest.raises(SwaxsError, match=r"step 'm', parameter 'masks.none': rule 'T < 0' selects no point"):
        run_step(RuleMask, {"masks": {"none": "T < 0"}}, inputs, tmp_path / "m.nxs", "m")
    with pytest.raises(SwaxsError, match=r"masks.far.*intensity\(2.0, 2.2\): q-range outside.*0.0033"):
        run_step(RuleMask, {"masks": {"far": "intensity(2.0, 2.2) > 0"}}, inputs, tmp_path / "m.nxs", "m")


def test_fit_maps_can_be_referenced_by_path(operando_run, tmp_path):
    fitted = tmp_path / "fit.nxs"
    with h5py.File(fitted, "w") as handle:
        group = handle.create_group("fit/maps/pseudo_metal_area")
        group.attrs["signal"] = "area"
        group["area"] = operando_run.truth["params"]["pseudo_metal_area"]
    inputs = {"fit": step_ref(fitted, "fit", "fit")}
    out = run_step(RuleMask, {"masks": {"pm": "fit('maps/pseudo_metal_area') > 1e-5"}, "scan": 4}, inputs,
                   tmp_path / "m.nxs", "m")
    with h5py.File(out, "r") as handle:
        np.testing.assert_array_equal(handle["m/masks/pm/mask"][()],
                                      operando_run.truth["params"]["pseudo_metal_area"][4] > 1e-5)


def test_the_rule_language_works_on_volumes():
    """The same rules on a volume [z, y, x]: cubic elements and 26-connected components."""
    volume = np.zeros((9, 9, 9))
    volume[1:6, 1:6, 1:6] = 1.0          # a 5³ cube
    volume[7, 7, 7] = volume[8, 8, 8] = 1.0  # two voxels touching at a corner only
    context = RuleContext({"v": lambda: volume}, {})
    assert evaluate_rule("largest(v > 0.5)", context).sum() == 125
    assert evaluate_rule("erosion(v > 0.5, 1)", context).sum() == 27
    assert evaluate_rule("v > 0.5 and not largest(v > 0.5)", context).sum() == 2
    corner_pair = evaluate_rule("largest(v > 0.5 and not largest(v > 0.5))", context)
    assert corner_pair.sum() == 2  # 26-connected: the corner-touching voxels are one component
