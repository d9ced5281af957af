"""The simulated tomography samples: a hard-carbon cap on an aluminium pin, with named variants.

Every sample has the same shape (a spherical cap of hard carbon on an Al pin, in a cube of 1 mm)
and scatters I(r, q, n) = m(r, q) f(r, n): a spherical-mean curve m = Σ_k A_k(r) curve_k(q) (Porod
q⁻⁴, a micropore Guinier shoulder and a flat term) times a fibre-symmetric orientation distribution
f = 1 + Σ_ℓ β_ℓ P_ℓ(n · u(r)) about the radial direction u from the cap's sphere centre. The
samples differ in how the amplitudes A_k vary in space and in how anisotropic they are
(:data:`SAMPLES`):

- ``electrode`` (the default, tensor tomography): the nominal amplitudes varying by a smooth
  random field of ±30 %, the full anisotropy;
- ``low_sodiation`` and ``high_sodiation`` (ex-situ samples for scalar tomography): a degree of
  sodiation x lowers the mean micropore amplitude by 35 % · x (DESIGN.md §1) and raises the
  Porod (SEI) amplitude by 30 % · x, and the micropore amplitude varies more in space at high
  sodiation (a field normalised to the stated relative standard deviation over the voxels fully
  inside the electrode, so that the order of the two samples' histogram widths holds for every
  seed); isotropic
  (anisotropy 0), because a scalar reconstruction from segment means is exact only for an
  isotropic sample (Funk–Hecke, docs/simulation_tomography.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from swaxs_plugins.tomo import harmonics, projector

FIELD_OF_VIEW_MM = 1.0
MU_HARD_CARBON_PER_MM = 0.13
MU_ALUMINIUM_PER_MM = 3.1
"""Linear attenuation at 13.2 keV (porous hard-carbon electrode ~1 g/cm³, and Al)."""

COMPONENT_NAMES = ("porod", "micropore", "flat")
COMPONENT_COUNTS_PER_MM = (50.0, 2.0e4, 200.0)
"""Nominal amplitude of each curve component: counts per segment per mm of hard carbon."""
POROD_Q0 = 0.1
MICROPORE_RG = 5.0
FIBRE_BETAS = {2: 0.6, 4: 0.2, 6: 0.05}
"""Degree of anisotropy: f(n) = 1 + Σ β_ℓ P_ℓ(n · u); strongest scattering for n along u."""
MICROPORE_LOSS_ON_SODIATION = 0.35
POROD_GAIN_ON_SODIATION = 0.30
ELECTRODE_FRACTION = 0.5
"""A voxel belongs to the electrode (hard-carbon mask) when at least this fraction is hard carbon."""


@dataclass(frozen=True)
class SampleDefinition:
    """How one sample departs from the nominal electrode (module docstring).

    ``stream`` keys the sample's random streams (None: the default electrode's, as before named
    samples existed); ``spreads`` are the relative standard deviations of the Porod and micropore
    amplitude fields; ``normalised``: the fields are scaled to exactly these over the voxels fully
    inside the electrode (else a raw field of unit variance over the whole cube); ``anisotropy``
    multiplies every β_ℓ.
    """

    name: str
    description: str
    stream: int | None
    sodiation: float = 0.0
    spreads: tuple[float, float] = (0.3, 0.3)
    normalised: bool = False
    anisotropy: float = 1.0

    @property
    def levels(self) -> tuple[float, float, float]:
        """Mean amplitude of each component relative to the nominal one, from the degree of sodiation."""
        return (1.0 + POROD_GAIN_ON_SODIATION * self.sodiation, 1.0 - MICROPORE_LOSS_ON_SODIATION * self.sodiation,
                1.0)

    def betas(self, ell_max: int, anisotropy: float | None = None) -> dict[int, float]:
        """The fibre β_ℓ of this sample (``anisotropy`` replaces the sample's own factor when given);
        a ValueError names 'anisotropy' when it makes f negative in some direction (truncated at ell_max)."""
        factor = self.anisotropy if anisotropy is None else anisotropy
        betas = {ell: factor * beta for ell, beta in FIBRE_BETAS.items()}
        cosines = np.linspace(-1.0, 1.0, 2001)
        lowest = (1 + sum(beta * special.eval_legendre(ell, cosines) for ell, beta in betas.items()
                          if ell <= ell_max)).min()
        if factor < 0 or lowest < 0:
            why = "is negative" if factor < 0 else f"makes the orientation distribution negative (min f = {lowest:.3g})"
            raise ValueError(f"anisotropy {factor:g} {why} (parameter 'anisotropy'); 0 is isotropic, 1 the "
                             "electrode's")
        return betas


SAMPLES = {
    "electrode": SampleDefinition(
        "electrode", "hard-carbon cap on an aluminium pin (simulated)", stream=None),
    "low_sodiation": SampleDefinition(
        "low_sodiation", "ex-situ hard-carbon electrode, low degree of sodiation (simulated)", stream=1,
        sodiation=0.25, spreads=(0.3, 0.15), normalised=True, anisotropy=0.0),
    "high_sodiation": SampleDefinition(
        "high_sodiation", "ex-situ hard-carbon electrode, high degree of sodiation (simulated)", stream=2,
        sodiation=1.0, spreads=(0.3, 0.35), normalised=True, anisotropy=0.0),
}
EX_SITU_SAMPLES = ("low_sodiation", "high_sodiation")


def resolve_samples(names: Sequence[str]) -> tuple[SampleDefinition, ...]:
    """The definitions of ``names``; a ValueError naming an unknown or repeated one."""
    unknown = [name for name in names if name not in SAMPLES]
    if unknown:
        raise ValueError(f"unknown sample {', '.join(map(repr, unknown))} (parameter 'samples'); known: "
                         f"{', '.join(SAMPLES)}")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"samples must be distinct and at least one, got {list(names)}")
    return tuple(SAMPLES[name] for name in names)


@dataclass(frozen=True)
class Phantom:
    """Ground-truth volumes [X, Y, Z, ...] of one sample (see the truth-file keys in the docs)."""

    hard_carbon_fraction: np.ndarray
    pin_fraction: np.ndarray
    attenuation: np.ndarray
    component_amplitude: np.ndarray
    component_curve: np.ndarray
    orientation: np.ndarray
    orientation_coefficients: np.ndarray
    q: np.ndarray
    voxel_size_mm: float
    ell_max: int
    betas: dict[int, float]

    @property
    def mask(self) -> np.ndarray:
        """Voxels at least half filled with hard carbon or pin."""
        return self.hard_carbon_fraction + self.pin_fraction >= 0.5

    @property
    def electrode_mask(self) -> np.ndarray:
        """The electrode: voxels at least ELECTRODE_FRACTION hard carbon (the pin does not scatter)."""
        return self.hard_carbon_fraction >= ELECTRODE_FRACTION

    @property
    def mean_intensity(self) -> np.ndarray:
        """Spherical-mean intensity m(r, q) [X, Y, Z, n_q]."""
        return self.component_amplitude @ self.component_curve


def component_functions() -> tuple[Callable[[np.ndarray], np.ndarray], ...]:
    """The curve components as functions of q [1/Å]: (q0/q)^4, exp(-(q Rg)²/3), 1."""
    return (lambda q: (POROD_Q0 / q) ** 4, lambda q: np.exp(-((q * MICROPORE_RG) ** 2) / 3), np.ones_like)


def component_curves(q: np.ndarray) -> np.ndarray:
    """Shapes [3, n_q] of the curve components at the points q."""
    return np.stack([function(q) for function in component_functions()])


def electrode_fractions(n_voxels: int, subsamples: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Volume fractions of hard carbon and pin per voxel, and the cap's sphere centre (voxels).

    Shapes are in units of the half width h of the cube: an Al pin of radius 0.15 h along z,
    slightly off the rotation axis, from z = -0.85 h to 0.05 h; a hard-carbon cap, the part
    above z = 0 of a sphere of radius 0.7 h centred 0.1 h below it on the pin axis. Fractions
    are averaged over ``subsamples``³ points per voxel.
    """
    half = n_voxels / 2
    axis_xy = np.array([0.10, -0.06]) * half
    centre = np.array([*axis_xy, -0.1 * half])
    centres = projector.voxel_centres((n_voxels,) * 3)
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    cap = np.zeros(len(centres))
    pin = np.zeros(len(centres))
    for offset in np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3):
        point = centres + offset
        in_cap = (np.linalg.norm(point - centre, axis=1) <= 0.7 * half) & (point[:, 2] >= 0)
        radial = np.linalg.norm(point[:, :2] - axis_xy, axis=1)
        in_pin = (radial <= 0.15 * half) & (point[:, 2] >= -0.85 * half) & (point[:, 2] <= 0.05 * half)
        cap += in_cap
        pin += in_pin & ~in_cap
    shape = (n_voxels,) * 3
    return (cap / subsamples**3).reshape(shape), (pin / subsamples**3).reshape(shape), centre


def smooth_field(points: np.ndarray, rng: np.random.Generator, n_waves: int = 6) -> np.ndarray:
    """A smooth random field of zero mean and unit variance at ``points`` [n, 3] (in mm).

    A sum of plane waves with at most 1.5 periods across the field of view, so the same seed
    gives the same field at every grid resolution.
    """
    frequencies = rng.uniform(-1.5, 1.5, (n_waves, 3)) / FIELD_OF_VIEW_MM
    phases = rng.uniform(0, 2 * np.pi, n_waves)
    return np.cos(2 * np.pi * points @ frequencies.T + phases).sum(axis=1) * np.sqrt(2 / n_waves)


def relative_amplitudes(sample: SampleDefinition, points_mm: np.ndarray, interior: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """A_k / nominal [n, 3] per voxel: level × max(1 + spread × field, 0.2), the flat term constant.

    A ``normalised`` sample's fields are first scaled to zero mean and unit standard deviation
    over the ``interior`` voxels, so its spreads are the fields' exact relative spreads there
    (up to the clipping, which a field 2.3 standard deviations below its mean needs).
    """
    columns = []
    for level, spread in zip(sample.levels[:2], sample.spreads):
        field = smooth_field(points_mm, rng)
        if sample.normalised:
            field = (field - field[interior].mean()) / field[interior].std()
        columns.append(level * np.clip(1 + spread * field, 0.2, None))
    return np.stack(columns + [np.full(len(points_mm), sample.levels[2])], axis=1)


def make_phantom(n_voxels: int, q: np.ndarray, curves: np.ndarray, ell_max: int, sample: SampleDefinition,
                 rng: np.random.Generator, *, anisotropy: float | None = None,
                 counts_per_mm: Sequence[float] = COMPONENT_COUNTS_PER_MM) -> Phantom:
    """One sample's fractions, attenuation, curve amplitudes and orientation per voxel.

    ``curves`` [3, n_q] are the component shapes on the q bins (point values, or bin means for the
    raw form); ``counts_per_mm`` the nominal amplitudes in the intensity unit of the form written.
    """
    voxel_size = FIELD_OF_VIEW_MM / n_voxels
    cap, pin, sphere_centre = electrode_fractions(n_voxels)
    centres = projector.voxel_centres(cap.shape)
    relative = relative_amplitudes(sample, centres * voxel_size, cap.ravel() >= 1.0, rng)  # fully hard carbon
    amplitude = relative * np.asarray(counts_per_mm) * cap.reshape(-1, 1)
    radial = centres - sphere_centre
    orientation = radial / np.linalg.norm(radial, axis=1, keepdims=True)
    betas = sample.betas(ell_max, anisotropy)
    coefficients = harmonics.fibre_coefficients(orientation, betas, ell_max)
    return Phantom(
        hard_carbon_fraction=cap,
        pin_fraction=pin,
        attenuation=MU_HARD_CARBON_PER_MM * cap + MU_ALUMINIUM_PER_MM * pin,
        component_amplitude=amplitude.reshape(*cap.shape, len(COMPONENT_NAMES)),
        component_curve=curves,
        orientation=orientation.reshape(*cap.shape, 3),
        orientation_coefficients=coefficients.reshape(*cap.shape, -1),
        q=q,
        voxel_size_mm=voxel_size,
        ell_max=ell_max,
        betas=betas,
    )
