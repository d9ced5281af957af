"""The rule language of masks: Python-like expressions over maps or volumes, evaluated by a small
whitelisting interpreter (no ``eval``), shared by the ``mask`` step (maps [y, x]) and the volume
analysis of tomography (volumes [z, y, x]).

- names: quantities the caller provides (e.g. ``T``, ``intensity(q_min, q_max)``) and earlier masks;
- numbers, unary minus, arithmetic ``+ - * /`` on maps and numbers, comparisons ``<``, ``<=``, ``>``,
  ``>=`` (chains allowed), ``and``, ``or``, ``not``;
- thresholds that carry over from one sample to the next (numbers computed from a map's finite values,
  optionally only where a mask holds: ``quantile(map, p[, mask])``, ``median(map[, mask])`` and
  ``otsu(map[, mask])``, Otsu's threshold by scikit-image), e.g.
  ``intensity(0.12, 0.3) > 0.3 * quantile(intensity(0.12, 0.3), 0.95)`` or ``T > otsu(T)``;
- morphology: ``opening(m, r)``, ``closing(m, r)``, ``dilation(m, r)``, ``erosion(m, r)`` (square or
  cubic element of half-width r points, default 1), ``largest(m)`` (largest connected component,
  8-connected in 2-D, 26 in 3-D), ``distance(m)`` (Euclidean distance to m in points).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from swaxs_plugins.core.errors import SwaxsError

COMPARE: dict[type, Callable[[Any, Any], Any]] = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
                                                  ast.GtE: operator.ge}
ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {ast.Add: operator.add, ast.Sub: operator.sub,
                                                     ast.Mult: operator.mul, ast.Div: operator.truediv}


def square(radius: int, ndim: int = 2) -> np.ndarray:
    """A (2r+1)^ndim square (cubic) structuring element."""
    return np.ones((2 * radius + 1,) * ndim, bool)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest fully connected component of a mask (empty stays empty)."""
    labels, count = ndimage.label(mask, structure=np.ones((3,) * mask.ndim))
    if count == 0:
        return np.zeros_like(mask, bool)
    sizes = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
    return labels == (1 + int(np.argmax(sizes)))


def distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (in points) of every point to the nearest point of the mask; inf if empty."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndimage.distance_transform_edt(~mask)


def closing(mask: np.ndarray, radius: int = 1) -> np.ndarray:
    """Binary closing with the edges extended, so that a mask touching the border is not eaten there."""
    r = int(radius)
    closed = ndimage.binary_closing(np.pad(mask, r, mode="edge"), square(r, mask.ndim))
    return closed[(slice(r, -r),) * mask.ndim]


MORPHOLOGY: dict[str, Callable[..., np.ndarray]] = {
    "opening": lambda m, r=1: ndimage.binary_opening(m, square(int(r), m.ndim), border_value=0),
    "closing": closing,
    "dilation": lambda m, r=1: ndimage.binary_dilation(m, square(int(r), m.ndim)),
    "erosion": lambda m, r=1: ndimage.binary_erosion(m, square(int(r), m.ndim), border_value=1),
    "largest": lambda m: largest_component(m),
    "distance": lambda m: distance_to(m),
}


def _finite(values: np.ndarray, where: np.ndarray | None, name: str) -> np.ndarray:
    """The finite values of a map (where ``where`` holds); an error where there are none."""
    if where is not None and not (isinstance(where, np.ndarray) and where.dtype == bool):
        raise ValueError(f"{name}()'s last argument must be a mask (where to take the values), got "
                         f"{where!r}; for a fraction of the threshold write e.g. 0.25 * {name}(...)")
    values = np.asarray(values, dtype=np.float64)
    chosen = values[np.isfinite(values) & (True if where is None else where)]
    if chosen.size == 0:
        raise ValueError(f"{name}() found no finite value to compute a threshold from")
    return chosen


def _otsu(values: np.ndarray, where: np.ndarray | None = None) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(_finite(values, where, "otsu")))


STATISTICS: dict[str, Callable[..., float]] = {
    "quantile": lambda m, p, where=None: float(np.quantile(_finite(m, where, "quantile"), float(p))),
    "median": lambda m, where=None: float(np.median(_finite(m, where, "median"))),
    "otsu": _otsu,
}


@dataclass
class RuleContext:
    """What a rule may refer to: quantities (arrays of one shape, or functions returning them) and masks built so far."""

    quantities: Mapping[str, Callable[..., np.ndarray]]
    masks: dict[str, np.ndarray]


def evaluate_rule(rule: str, context: RuleContext) -> np.ndarray:
    """Evaluate a mask rule to a boolean map; a SwaxsError names what is wrong in the rule."""
    try:
        tree = ast.parse(rule, mode="eval")
    except SyntaxError as error:
        raise SwaxsError(f"rule '{rule}' is not an expression ({error.msg})") from error
    result = _evaluate(tree.body, context, rule)
    if not isinstance(result, np.ndarray) or result.dtype != bool:
        raise SwaxsError(f"rule '{rule}' gives a number map, not a mask: compare it (e.g. '... > 0.5')")
    return result


def _evaluate(node: ast.AST, context: RuleContext, rule: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, context, rule)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_as_mask(_evaluate(node.operand, context, rule), rule)
    if isinstance(node, ast.BoolOp):
        values = [_as_mask(_evaluate(v, context, rule), rule) for v in node.values]
        return np.logical_and.reduce(values) if isinstance(node.op, ast.And) else np.logical_or.reduce(values)
    if isinstance(node, ast.Compare) and all(type(op) in COMPARE for op in node.ops):
        return _compare(node, context, rule)
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        left, right = _evaluate(node.left, context, rule), _evaluate(node.right, context, rule)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ARITHMETIC[type(node.op)](_number(left, rule), _number(right, rule))
    if isinstance(node, ast.Name):
        return _name(node.id, context, rule)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = [_evaluate(a, context, rule) for a in node.args]
        return _call(node.func.id, args, context, rule)
    raise SwaxsError(f"rule '{rule}': '{ast.unparse(node)}' is not allowed (use T, intensity(), fit(), mask names, "
                     f"+ - * /, < <= > >=, and/or/not, {', '.join([*MORPHOLOGY, *STATISTICS])})")


def _compare(node: ast.Compare, context: RuleContext, rule: str) -> np.ndarray:
    left = _evaluate(node.left, context, rule)
    result = None
    for op, comparator in zip(node.ops, node.comparators):
        right = _evaluate(comparator, context, rule)
        with np.errstate(invalid="ignore"):
            part = np.asarray(COMPARE[type(op)](left, right))
        result = part if result is None else result & part
        left = right
    return result


def _name(name: str, context: RuleContext, rule: str) -> np.ndarray:
    if name in context.masks:
        return context.masks[name]
    if name in context.quantities:
        return context.quantities[name]()
    raise SwaxsError(f"rule '{rule}': unknown name '{name}' (known: {', '.join([*context.quantities, *context.masks])})")


def _call(name: str, args: list[Any], context: RuleContext, rule: str) -> np.ndarray:
    if name in context.quantities and (name in MORPHOLOGY or name in STATISTICS):
        raise SwaxsError(f"rule '{rule}': the quantity '{name}' has the name of a function of the rule language "
                         "itself; the step that provides it must rename it")
    function = MORPHOLOGY.get(name) or STATISTICS.get(name) or context.quantities.get(name)
    if function is None:
        raise SwaxsError(f"rule '{rule}': unknown function '{name}'")
    if name in MORPHOLOGY:
        args = [_as_mask(args[0], rule), *args[1:]] if args else args
    if name in STATISTICS and args:
        args = [_number(args[0], rule), *args[1:]]
    try:
        return function(*args)
    except TypeError as error:
        raise SwaxsError(f"rule '{rule}': {name}() called with wrong arguments ({error})") from error
    except ValueError as error:
        raise SwaxsError(f"rule '{rule}': {error}") from error


def _number(value: Any, rule: str) -> Any:
    """A number or a number map (arithmetic and statistics do not take masks)."""
    if isinstance(value, np.ndarray) and value.dtype == bool or isinstance(value, str):
        raise SwaxsError(f"rule '{rule}': arithmetic and quantile/median/otsu need numbers or maps, got a "
                         f"{'mask' if isinstance(value, np.ndarray) else 'text'}")
    return value


def _as_mask(value: Any, rule: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype != bool:
        raise SwaxsError(f"rule '{rule}': 'and', 'or', 'not' and morphology need masks, got a {type(value).__name__}")
    return value
