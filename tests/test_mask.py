"""mask/rules: masks of the simulated experiment against the true material masks (IoU), the rule
language (comparisons, and/or/not, morphology, fit maps) on known arrays, and bad rules."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest_operando import operando_run, run_step, step_ref  # noqa: F401  (fixture)
from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.data.masks import read_masks
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.rules import RuleContext, distance_to, evaluate_rule, largest_component
from swaxs_plugins.steps.mask import RuleMask


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


def two_materials(seed: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A map of two materials, 10 ± 1 and 50 ± 2 counts in a random pattern, scaled; one point NaN (masked)."""
    rng = np.random.default_rng(seed)
    second = rng.random((30, 40)) < 0.5
    intensity = scale * np.where(second, rng.normal(50, 2, second.shape), rng.normal(10, 1, second.shape))
    intensity[0, 0] = np.nan
    return intensity, second & np.isfinite(intensity)


@pytest.mark.parametrize("scale", [1 / 3, 1.0, 3.0])
@pytest.mark.parametrize("seed", range(3))
def test_relative_thresholds_carry_over_intensity_scales(scale, seed):
    """Scaled by 1/3, 1 or 3: half the 95th percentile (~26 before scaling) and 2.5 × the first material's
    median (25) select exactly the second material: both lie at least 10 σ from both materials (p < 1e-22
    per point), so the bound holds for any seed; the NaN point is left out of the statistics."""
    intensity, truth = two_materials(seed, scale)
    rules = context(I=intensity)
    for rule in ("I > 0.5 * quantile(I, 0.95)", "I > 2.5 * median(I, I < 0.5 * quantile(I, 0.95))",
                 "I - 0.5 * quantile(I, 0.95) > 0", "I / quantile(I, 0.95) > 0.5"):
        np.testing.assert_array_equal(evaluate_rule(rule, rules), truth, err_msg=rule)


@pytest.mark.parametrize("seed", range(3))
def test_otsu_is_scikit_images_threshold_and_scales_with_the_map(seed):
    """otsu() is scikit-image's threshold_otsu of the finite values (within a mask where given), and selects the
    same points at 1/3, 1 and 3 times the intensity (its histogram scales with the data). With classes this far
    apart its threshold sits anywhere in the gap, even at the edge of the lower class: scikit-image takes the
    first bin of a flat maximum."""
    from skimage.filters import threshold_otsu

    masks = []
    for scale in (1 / 3, 1.0, 3.0):
        intensity, truth = two_materials(seed, scale)
        finite = intensity[np.isfinite(intensity)]
        expected = np.isfinite(intensity) & (np.nan_to_num(intensity) > threshold_otsu(finite))
        masks.append(evaluate_rule("I > otsu(I)", context(I=intensity)))
        np.testing.assert_array_equal(masks[-1], expected)
        within = evaluate_rule("I > otsu(I, I > 0.5 * quantile(I, 0.95))", context(I=intensity))
        np.testing.assert_array_equal(within, intensity > threshold_otsu(intensity[truth]))
    np.testing.assert_array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[1], masks[2])


def test_a_quantity_named_like_a_builtin_function_is_refused():
    """A step (or plugin) whose quantity would shadow the language's own otsu, median, ... is told so, rather
    than one of the two meanings winning silently."""
    rules = RuleContext({"median": lambda v: v, "T": lambda: np.ones((2, 2))}, {})
    with pytest.raises(SwaxsError, match="the quantity 'median' has the name of a function of the rule language"):
        evaluate_rule("T > median(T)", rules)


@pytest.mark.parametrize("rule, message", [
    ("T ** 2", "not allowed"),
    ("T + 1", "number map, not a mask"),
    ("quantile(T > 0, 0.5) < T", "need numbers or maps, got a mask"),
    ("T > otsu(T, T < -1)", "otsu\\(\\) found no finite value"),
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
