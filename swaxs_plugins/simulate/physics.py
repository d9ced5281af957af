"""1D scattering model of the reference application: a hard-carbon Na-ion anode in a capillary cell.

Model after Olsson et al., Adv. Sci. 2025. Every function takes q in 1/Å and returns an intensity in
the simulator's absolute unit: expected counts per monitor (I0) count, per mm of sample thickness,
per unit of pyFAI's relative solid angle and polarization-corrected. Integrating a simulated frame
with pyFAI (``correctSolidAngle=True``, the simulator's polarization factor,
``normalization_factor = I0 * T * thickness``) returns these curves.

A curve is a sum of named terms (:func:`terms`); every term is linear in one amplitude field of
:class:`CurveParams`, which is what lets the renderer build frames as linear combinations of
per-term detector images.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

HC_KEV_ANGSTROM = 12.398419843320026
ENERGY_KEV = 13.2

# Fixed peak positions and widths (1/Å); the amplitudes live in CurveParams.
BINDER_SAXS_Q, BINDER_SAXS_FWHM = 0.075, 0.03
BINDER_WAXS_Q, BINDER_WAXS_FWHM = 1.45, 0.10
PSEUDO_METAL_Q, PSEUDO_METAL_FWHM = 2.17, 0.22
NA_METAL_Q, NA_METAL_FWHM = 2.07, 0.02
Q002_PRISTINE, FWHM002 = 1.65, 0.35

# Calibrants: the pyFAI calibrant library names.
AGBH, LAB6 = "AgBh", "LaB6"


def wavelength_angstrom(energy_kev: float = ENERGY_KEV) -> float:
    """Photon wavelength in Å for an energy in keV (λ = hc / E)."""
    if energy_kev <= 0:
        raise ValueError(f"energy_kev must be positive, got {energy_kev}")
    return HC_KEV_ANGSTROM / energy_kev


def gaussian(q: np.ndarray, area: float, centre: float, fwhm: float) -> np.ndarray:
    """Gaussian peak of given integrated area (intensity x 1/Å), centre and FWHM (1/Å)."""
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return area / (sigma * np.sqrt(2.0 * np.pi)) * np.exp(-0.5 * ((q - centre) / sigma) ** 2)


def power_law(q: np.ndarray, amplitude: float, exponent: float = 4.0) -> np.ndarray:
    """Porod-like scattering of particle surfaces, A q^-α (α = 4 for sharp smooth surfaces)."""
    return amplitude * np.power(q, -exponent)


def debye_bueche(q: np.ndarray, amplitude: float, length: float) -> np.ndarray:
    """Debye-Bueche term I0 / (1 + q²ξ²)²: the shoulder of closed micropores (ξ ~ 3-4 Å)."""
    return amplitude / (1.0 + (q * length) ** 2) ** 2


def electrolyte(q: np.ndarray) -> np.ndarray:
    """Liquid electrolyte (NaPF6 in carbonates) per mm: two broad amorphous humps plus a flat level."""
    return 1.0e-5 + gaussian(q, 1.5e-4, 1.45, 0.70) + gaussian(q, 1.0e-4, 3.0, 1.0)


def quartz(q: np.ndarray) -> np.ndarray:
    """Amorphous silica of the capillary walls per mm of glass: the 1.55 1/Å hump plus flat."""
    return 1.0e-4 + gaussian(q, 6.0e-3, 1.55, 0.60) + gaussian(q, 2.0e-3, 2.95, 0.9)


def air(q: np.ndarray) -> np.ndarray:
    """Air, windows and parasitic slit scattering: what an empty beam gives (steep low-q + flat)."""
    return 2.0e-6 + power_law(q, 2.0e-13, 4.0)


@dataclass(frozen=True)
class CurveParams:
    """Parameters of one scattering curve; amplitude fields scale one term each.

    Weights of the fixed-shape backgrounds (``electrolyte``, ``quartz``, ``air``) are path
    lengths relative to the 1 mm reference; ``flat`` is a constant (e.g. steel fluorescence).
    """

    particle_amp: float = 0.0
    micropore_amp: float = 0.0
    binder_saxs_area: float = 0.0
    binder_waxs_area: float = 0.0
    c002_area: float = 0.0
    pseudo_metal_area: float = 0.0
    na_metal_area: float = 0.0
    electrolyte: float = 0.0
    quartz: float = 0.0
    air: float = 0.0
    flat: float = 0.0
    q002: float = Q002_PRISTINE
    particle_exponent: float = 4.0
    micropore_length: float = 3.5

    @property
    def d002(self) -> float:
        """Interlayer spacing of the 002 peak, d = 2π/q (Å)."""
        return 2.0 * np.pi / self.q002


#: The fields that scale one term linearly; the others (q002, exponent, length) set term shapes.
AMPLITUDES: tuple[str, ...] = (
    "particle_amp", "micropore_amp", "binder_saxs_area", "binder_waxs_area", "c002_area",
    "pseudo_metal_area", "na_metal_area", "electrolyte", "quartz", "air", "flat",
)


def terms(q: np.ndarray, p: CurveParams) -> dict[str, np.ndarray]:
    """Every term of the curve, keyed by its amplitude field; their sum is :func:`model_curve`."""
    q = np.asarray(q, dtype=np.float64)
    return {
        "particle_amp": power_law(q, p.particle_amp, p.particle_exponent),
        "micropore_amp": debye_bueche(q, p.micropore_amp, p.micropore_length),
        "binder_saxs_area": gaussian(q, p.binder_saxs_area, BINDER_SAXS_Q, BINDER_SAXS_FWHM),
        "binder_waxs_area": gaussian(q, p.binder_waxs_area, BINDER_WAXS_Q, BINDER_WAXS_FWHM),
        "c002_area": gaussian(q, p.c002_area, p.q002, FWHM002),
        "pseudo_metal_area": gaussian(q, p.pseudo_metal_area, PSEUDO_METAL_Q, PSEUDO_METAL_FWHM),
        "na_metal_area": gaussian(q, p.na_metal_area, NA_METAL_Q, NA_METAL_FWHM),
        "electrolyte": p.electrolyte * electrolyte(q),
        "quartz": p.quartz * quartz(q),
        "air": p.air * air(q),
        "flat": np.full_like(q, p.flat),
    }


def model_curve(q: np.ndarray, p: CurveParams) -> np.ndarray:
    """The full model I(q) of one scan point (unattenuated, per unit I0 and thickness)."""
    return sum(terms(q, p).values())


def unit_terms(q: np.ndarray, shape: CurveParams) -> dict[str, np.ndarray]:
    """Each term with amplitude 1 and the shape fields of ``shape``: the renderer's basis curves."""
    return terms(q, replace(shape, **{name: 1.0 for name in AMPLITUDES}))


def hard_carbon(fraction: float = 1.0) -> CurveParams:
    """Pristine hard-carbon electrode (carbon + PVDF binder) filling ``fraction`` of the beam path."""
    return CurveParams(
        particle_amp=fraction * 3.0e-10,
        micropore_amp=fraction * 1.6e-4,
        binder_saxs_area=fraction * 1.0e-6,
        binder_waxs_area=fraction * 5.0e-6,
        c002_area=fraction * 1.6e-4,
    )


def ring_curve(q: np.ndarray, calibrant: str, wavelength_a: float, fwhm: float,
               peak_area: float, background: float) -> np.ndarray:
    """Powder rings of a pyFAI calibrant: Gaussians at q = 2π/d, area falling as 1/order, on a flat.

    Only reflections reachable at ``wavelength_a`` (d > λ/2) are included.
    """
    from pyFAI.calibrant import get_calibrant

    spacings = np.asarray(get_calibrant(calibrant).dspacing, dtype=np.float64)
    spacings = spacings[spacings > wavelength_a / 2.0]
    curve = np.full_like(np.asarray(q, dtype=np.float64), background)
    for order, d in enumerate(spacings, start=1):
        curve += gaussian(q, peak_area / order, 2.0 * np.pi / d, fwhm)
    return curve


def calibrant_q(calibrant: str) -> np.ndarray:
    """Ring positions q = 2π/d (1/Å) of a pyFAI calibrant, in the library's order."""
    from pyFAI.calibrant import get_calibrant

    return 2.0 * np.pi / np.asarray(get_calibrant(calibrant).dspacing, dtype=np.float64)
