"""Pydantic models of the sweep file (design §2): one model per section.

Every field carries its unit in the description and its allowed range in its constraints
(``ge``/``gt``/``le``/``lt``, ``pattern``), so that :mod:`.reference` can list them; defaults are
the contract's. Values are typed strictly: a TOML or JSON mistake such as ``frames = true``,
``roi_size = "64"`` or ``add_noise = "no"`` is refused instead of coerced, and no number may be
NaN or infinite. Cross-field rules (``na < immersion_index``, ROI larger than the PSF patch) live
on the model that owns both fields.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError


def _whole_float_to_int(value):
    # TOML has no integer exponent notation: `num_emitters = 1e6` is a float, and JSON writers
    # may print 10 as 10.0. A float without fraction is the integer it spells; 2.5 stays refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: a real number, finite; an int is accepted and becomes a float (`background = 100` is 100.0,
#: so fingerprints do not depend on how the number was written). Never a bool or a string.
Number = Annotated[float, Strict(), AllowInfNan(False)]
#: an integer (or a float without fraction); never a bool, a string or 2.5
Integer = Annotated[int, BeforeValidator(_whole_float_to_int), Strict()]
#: true or false only: no 0/1, no "no"
Flag = Annotated[bool, Strict()]
#: side of a frame in pixels: the largest sCMOS/EMCCD sensors are well below 65536 px a side
Side = Annotated[Integer, Field(ge=1, le=65536)]
#: frame and emitter counts: 10^8 frames of the smallest ROI are already terabytes
Count = Annotated[Integer, Field(le=10**8)]

#: a single folder name (no separators, not "." or "..", not hidden), portable characters only
SAFE_NAME = r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,99}$"
#: characters allowed in a job name (and so in a sample suffix)
SAFE_CHARS = r"^[A-Za-z0-9._+-]+$"
#: what each pattern means, in the words of messages and of the table of keys
#: (the docstring of a field validator says what it allows, for the same listing)
PATTERN_HELP = {
    SAFE_NAME: "a single folder name: 1 to 100 of the characters A-Z a-z 0-9 . _ + -, not starting with '.'",
}



def added_field(default, **kwargs):
    """A ``Field`` added to the schema after fingerprints were first published: the fingerprint hashes it
    only when it differs from ``default`` (:mod:`pipeline.plan.identity`), so that every existing sweep
    keeps its fingerprint and its bytes."""
    return Field(default, json_schema_extra={"added": True}, **kwargs)

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SweepSection(_Section):
    name: str | None = Field(None, pattern=SAFE_NAME, description="sweep name (the default output is runs/<name>); default: the sweep file's stem")
    output: str | None = Field(
        None, description="output folder, relative to the sweep file; default: runs/<name> in the current directory"
    )
    seed: Integer = Field(42, ge=0, le=2**63 - 1, description="master seed of every random stream")


class ClusterSection(_Section):
    workers: Integer | None = Field(None, ge=1, le=4096, description="worker processes of the local cluster; default: one per core")
    threads_per_worker: Integer = Field(1, ge=1, le=1024, description="threads per worker process")
    memory_limit: str = Field("auto", description='memory limit per worker, e.g. "4GiB"; "auto" = RAM / workers')
    dashboard_address: str = Field(
        "127.0.0.1:8787", description='where the local cluster\'s dashboard listens; a port alone (":8787") is on '
                                      '127.0.0.1 too, "0.0.0.0:8787" opens it to every interface')
    address: str = Field("", description='"tcp://host:8786": use that existing scheduler instead of a local cluster')

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str) -> str:
        """"auto" or a size such as "4GiB\""""
        from dask.utils import parse_bytes  # the size as the cluster will read it

        if value in ("auto", ""):
            return value
        try:
            positive = parse_bytes(value) > 0
        except (ValueError, TypeError, OverflowError):
            positive = False
        if not positive:
            # not a "value_error": the message then shows key = value and what is allowed
            raise PydanticCustomError("memory_size", "not a positive size")
        return value

    @field_validator("dashboard_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        """[host]:port, port <= 65535, e.g. ":8787" (":0" = any free port)"""
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{value!r} is not [host]:port, e.g. \"127.0.0.1:8787\" (port 0 = any free port)")
        return value

    @field_validator("address")
    @classmethod
    def _scheduler(cls, value: str) -> str:
        """empty (a local cluster) or a scheduler address such as "tcp://host:8786\""""
        if value and not re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s:]+:\d+", value):
            raise ValueError(f"{value!r} is not a scheduler address such as \"tcp://host:8786\"")
        return value


class EmittersSection(_Section):
    num_emitters: Count = Field(1000, ge=0, description="emitters in the whole movie")
    frames: Count = Field(50, ge=1, description="frames in the movie")
    # larger than the ROI only places emitters outside the frame; 10^6 px is far beyond any sensor
    area_px: Number = Field(1200.0, gt=0, le=1e6, description="side of the square (centred on the ROI) where emitters are placed, pixels")
    # 10^9 photons per frame saturates any camera by orders of magnitude
    intensity_mu: Number = Field(10000.0, ge=0, le=1e9, description="mean photons per frame while fully on")
    intensity_sigma: Number = Field(2000.0, ge=0, le=1e9, description="standard deviation of the per-emitter flux, photons")
    lifetime_avg: Number = Field(2.5, gt=0, le=1e8, description="mean on-time, frames (exponential)")
    # 1 mm of depth: far beyond any objective's working distance
    z_range_um: Number = Field(1.0, ge=0, le=1000, description="z uniform in [-z/2, +z/2], micrometres")
    blinking: Literal["single", "markov", "four-state", "paint"] = Field(
        "single", description='"single" (one on-event each), "markov" (on/off/bleach), "four-state" (the SMLM '
                              'Challenge 2016 model: off, on, dark, bleached) or "paint" (DNA-PAINT binding)')
    off_time_avg: Number = Field(100.0, gt=0, le=1e8, description="markov only: mean off-time, frames")
    bleach_prob: Number = Field(0.0, ge=0, le=1, description="markov only: probability that an on-event ends in bleaching")
    dark_time_avg: Number = added_field(2.5, gt=0, le=1e8, description="four-state: mean time in the dark state before "
                                        "returning on, frames (lifetime_avg is the on state's time to the dark state)")
    bleach_time_avg: Number = added_field(1.5, gt=0, le=1e8, description="four-state: mean on-time to bleaching, frames")
    lead_in_frames: Number = added_field(0.0, ge=0, le=1e8, description="four-state: activations are uniform over "
                                         "[-lead_in_frames, frames) (the Challenge simulated 20 frames before the movie)")
    binding_rate_per_s: Number = added_field(0.05, gt=0, le=1e6, description="paint: imager binding rate k_on*c, per "
                                             "second (dark time 1/(k_on*c)); frames last camera.frame_interval_ms")
    bound_time_s: Number = added_field(0.5, gt=0, le=1e6, description="paint: mean bound time tau_b, seconds")
    positions_file: str = Field("", description="optional CSV/HDF5 of emitter positions (x_nm, y_nm[, z_nm])")
    # structures (README "Samples"): the emitters are fluorophores on the sites of copies of a structure
    structure: Literal["uniform", "grid", "npc", "filaments", "density", "positions"] = added_field(
        "uniform", description='"uniform" (num_emitters in area_px), "grid" (DNA origami), "npc" (nuclear pores), '
                               '"filaments" (microtubules), "density" (sites drawn from density_file), "positions" '
                               "(the rows of positions_file)")
    # a million copies of a 12-site origami is beyond any field of view
    structure_count: Count = added_field(10, ge=1, le=10**6, description="grid, npc, filaments: copies of the "
                                         "structure, placed uniformly in area_px (z uniform in z_range_um)")
    grid_rows: Integer = added_field(3, ge=1, le=1000, description="grid: rows of sites")
    grid_columns: Integer = added_field(4, ge=1, le=1000, description="grid: columns of sites")
    grid_spacing_nm: Number = added_field(20.0, gt=0, le=1e5, description="grid: distance between neighbouring sites, nm")
    grid_lattice: Flag = added_field(False, description="grid: copies on a regular lattice filling area_px "
                                                        "(default: uniform random centres)")
    grid_rotate: Flag = added_field(True, description="grid: each copy at a uniform random in-plane angle")
    npc_radius_nm: Number = added_field(53.7, gt=0, le=1e4, description="npc: ring radius, nm (Nup96)")
    npc_ring_separation_nm: Number = added_field(50.0, ge=0, le=1e4, description="npc: z distance of the "
                                                 "cytoplasmic and nuclear rings, nm")
    npc_labels_per_corner: Integer = added_field(2, ge=1, le=100, description="npc: labels per corner per ring "
                                                 "(8 corners x 2 rings x 2 = 32 for Nup96)")
    npc_tilt_deg: Number = added_field(0.0, ge=0, le=90, description="npc: each pore's axis tilted from z by up "
                                       "to this angle, degrees")
    filament_length_nm: Number = added_field(5000.0, gt=0, le=1e6, description="filaments: contour length, nm")
    filament_persistence_nm: Number = added_field(10000.0, gt=0, le=1e9, description="filaments: persistence "
                                                  "length, nm (microtubules: ~mm in vitro, far less in cells)")
    filament_diameter_nm: Number = added_field(25.0, ge=0, le=1e4, description="filaments: tube diameter, nm; "
                                               "the sites lie on its surface")
    filament_sites_per_um: Number = added_field(100.0, gt=0, le=1e5, description="filaments: mean sites per "
                                                "micrometre of contour")
    density_file: str = added_field("", description="density: an image (TIFF or PNG) whose pixel values are the "
                                    "density of sites; its pixel (0, 0) at the ROI's top-left corner")
    density_pixel_size_nm: Number = added_field(10.0, gt=0, le=1e5, description="density: pixel size of density_file, nm")
    density_sites: Count = added_field(1000, ge=0, description="density: sites drawn from the image")
    labelling_efficiency: Number = added_field(1.0, ge=0, le=1, description="probability that a site is labelled")
    fluorophores_per_label: Number = added_field(1.0, ge=0, le=1000, description="fluorophores per label: a whole "
                                                 "number, or the Poisson mean with fluorophores_poisson")
    fluorophores_poisson: Flag = added_field(False, description="fluorophores per label ~ Poisson(fluorophores_per_label)")
    linkage_error_nm: Number = added_field(0.0, ge=0, le=1e4, description="each fluorophore displaced from its site "
                                           "by an isotropic Gaussian of this std per axis, nm")
    source: str = added_field("", description="re-render this ground truth (emitters.h5 or a ThunderSTORM CSV, sorted "
                              "by frame): its localizations are the emitters, frame by frame")

    @model_validator(mode="after")
    def _structure_inputs(self) -> EmittersSection:
        if self.structure == "positions" and not self.positions_file:
            raise ValueError('structure = "positions" needs positions_file')
        if self.positions_file and self.structure not in ("uniform", "positions"):
            raise ValueError(f'positions_file is the structure "positions"; it cannot be combined with '
                             f'structure = "{self.structure}"')
        if self.structure == "density" and not self.density_file:
            raise ValueError('structure = "density" needs density_file (an image)')
        if not self.fluorophores_poisson and not float(self.fluorophores_per_label).is_integer():
            raise ValueError(f"fluorophores_per_label = {self.fluorophores_per_label:g} must be a whole number "
                             "(or set fluorophores_poisson = true for a Poisson mean)")
        if self.source and (self.structure != "uniform" or self.positions_file):
            raise ValueError("source renders the file's localizations as they are: it cannot be combined with "
                             "structure or positions_file")
        return self

    @property
    def labelled(self) -> bool:
        """Whether the emitters are fluorophores on the sites of a structure."""
        return self.structure not in ("uniform", "positions") and not self.source


#: a Noll index: 1000 modes is radial order ~44, far beyond any measured aberration
NollIndex = Annotated[int, Field(ge=1, le=1000)]
#: RMS wavefront of one mode, nm: 10 µm is ~15 waves, beyond what a pupil model resolves
ZernikeNm = Annotated[Number, Field(ge=-10000, le=10000)]


class OpticsSection(_Section):
    psf: Literal["gaussian", "astigmatic", "zernike", "spline", "vectorial"] = Field("zernike", description="PSF model")
    # near UV to short-wave infrared: the range of fluorophores and of glass optics
    wavelength_nm: Number = Field(670.0, ge=200, le=2000, description="emission wavelength, nm")
    # the best oil/TIRF objectives reach 1.7
    na: Number = Field(1.45, gt=0, le=1.7, description="numerical aperture")
    # vacuum to the densest immersion media (diamond is 2.42)
    immersion_index: Number = Field(1.518, ge=1, le=2.5, description="refractive index of the immersion medium")
    pixel_size_nm: Number = Field(100.0, gt=0, le=10000, description="pixel size in the sample plane, nm")
    gaussian_sigma_nm: Number = Field(0.0, ge=0, le=10000, description="gaussian/astigmatic PSF sigma, nm; 0 = 0.21*wavelength/na")
    astig_d_nm: Number = Field(400.0, ge=0, le=1e6, description="astigmatic: focal offset c of x and y (±), nm")
    astig_depth_nm: Number = Field(500.0, gt=0, le=1e6, description="astigmatic: depth of focus d in sigma(z)=sigma0*sqrt(1+((z∓c)/d)^2), nm")
    # TOML and JSON keys are strings: NollIndex is parsed from "6" (so not Strict)
    zernike: dict[NollIndex, ZernikeNm] = Field(
        default_factory=lambda: {5: 0.0, 6: 70.0}, description="global aberrations: Noll index -> RMS wavefront, nm"
    )
    zmap_path: str = Field("", description="field-dependent aberrations (HDF5, design §5), added to the global ones")
    psf_file: str = added_field("", description="spline: the calibration (SMAP *_3dcal.mat, uiPSF .h5 or this project's HDF5; README \"Using your own PSF\")")
    psf_clamp_z: Flag = added_field(False, description="spline: emitters beyond the calibrated z range take its nearest end (default: plan refuses them)")
    psf_radius_px: Integer = Field(12, ge=1, le=1000, description="the rendered patch is (2r+1)^2 pixels")
    sample_index: Number | None = added_field(None, ge=1.0, le=2.5, description="vectorial: refractive index of the "
                                              "sample (default: immersion_index, no interface)")
    focus_depth_nm: Number = added_field(0.0, ge=0, le=1e6, description="vectorial: nominal focus above the coverslip, "
                                         "nm; an emitter's depth is focus_depth_nm + z")
    dipole: Literal["free", "fixed"] = added_field("free", description='vectorial: "free" (rotating) or "fixed" dipoles '
                                                   "(orientations uniform on the sphere, drawn per emitter)")
    dipole_wobble_deg: Number = added_field(0.0, ge=0, le=90, description="vectorial, fixed: half-angle of the cone a "
                                            "dipole wobbles in, degrees")
    dipole_polar_deg: Number | None = added_field(None, ge=0, le=90, description="vectorial, fixed: every dipole's angle "
                                                  "from the optical axis, degrees (azimuths uniform); default: "
                                                  "orientations uniform on the sphere")

    @field_validator("zernike")
    @classmethod
    def _sorted(cls, value: dict[int, float]) -> dict[int, float]:
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _vectorial_keys(self) -> OpticsSection:
        if self.psf != "vectorial" and (self.sample_index is not None or self.focus_depth_nm or self.dipole != "free"
                                         or self.dipole_wobble_deg or self.dipole_polar_deg is not None):
            raise ValueError('sample_index, focus_depth_nm and the dipole keys apply to psf = "vectorial" only')
        if (self.dipole_wobble_deg or self.dipole_polar_deg is not None) and self.dipole != "fixed":
            raise ValueError('dipole_wobble_deg and dipole_polar_deg need dipole = "fixed"')
        return self

    @model_validator(mode="after")
    def _na_below_index(self) -> OpticsSection:
        if self.na >= self.immersion_index:
            raise ValueError(
                f"na = {self.na} must be smaller than immersion_index = {self.immersion_index}"
            )
        return self

    @model_validator(mode="after")
    def _spline_has_file(self) -> OpticsSection:
        if self.psf == "spline" and not self.psf_file:
            raise ValueError('psf = "spline" needs psf_file: a calibration (SMAP *_3dcal.mat, uiPSF .h5 or this '
                             "project's HDF5, e.g. from python -m pipeline psf spline)")
        return self

    @property
    def sigma_nm(self) -> float:
        """Gaussian sigma in nm (the 0.21 λ/NA fit of the Airy spot when not given)."""
        return self.gaussian_sigma_nm or 0.21 * self.wavelength_nm / self.na


class IlluminationSection(_Section):
    """The excitation profile: it scales each emitter's photons (and, optionally, its activation rate)."""

    profile: Literal["flat", "gaussian", "flat-top", "file", "sigmoid"] = added_field(
        "flat", description='"flat", "gaussian" (exp(-2 r^2/w^2)), "flat-top" (exp(-2 (r/w)^(2 order))), "file" (an '
                            'image, peak 1) or "sigmoid" (the SMLM Challenge 2016 radial profile)')
    centre_nm: tuple[Number, Number] | None = added_field(None, description="[x, y] of the beam centre, nm; default: "
                                                          "the ROI centre")
    # 1 nm: below any excitation spot (and w^2 stays a normal float); 1 m: beyond any field of view
    waist_nm: Number | None = added_field(None, ge=1, le=1e9, description="gaussian, flat-top: 1/e^2 radius w, nm")
    order: Number = added_field(4.0, ge=1, le=100, description="flat-top: super-Gaussian order (1 = gaussian)")
    half_max_radius_nm: Number | None = added_field(None, gt=0, le=1e9, description="sigmoid: radius of half intensity, nm")
    quarter_max_radius_nm: Number | None = added_field(None, gt=0, le=1e9, description="sigmoid: radius of a quarter "
                                                       "intensity, nm (> half_max_radius_nm)")
    file: str = added_field("", description="file: the profile as an image (TIFF or PNG), scaled to peak 1; its pixel "
                            "(0, 0) at the ROI's top-left corner")
    file_pixel_size_nm: Number | None = added_field(None, gt=0, le=1e5, description="file: its pixel size, nm; default: "
                                                    "optics.pixel_size_nm")
    activation: Flag = added_field(False, description="markov, four-state: activation rate proportional to the "
                                                      "intensity too (the mean off-time divided by it)")

    @model_validator(mode="after")
    def _profile_keys(self) -> IlluminationSection:
        needs = {"gaussian": ("waist_nm",), "flat-top": ("waist_nm",), "file": ("file",),
                 "sigmoid": ("half_max_radius_nm", "quarter_max_radius_nm")}.get(self.profile, ())
        for key in needs:
            if not getattr(self, key):
                raise ValueError(f'profile = "{self.profile}" needs {key}')
        if self.profile == "file" and self.centre_nm is not None:
            raise ValueError('profile = "file" has no centre (the image\'s pixel (0, 0) lies at the ROI\'s top-left '
                             'corner): remove centre_nm')
        if self.profile == "sigmoid" and self.quarter_max_radius_nm <= self.half_max_radius_nm:
            raise ValueError(f"quarter_max_radius_nm = {self.quarter_max_radius_nm:g} must exceed "
                             f"half_max_radius_nm = {self.half_max_radius_nm:g}")
        return self

    @property
    def active(self) -> bool:
        return self.profile != "flat"


class BackgroundSection(_Section):
    """Structure and time course of the background; its level is camera.background (photons/pixel/frame)."""

    field_amplitude: Number = added_field(0.0, ge=0, le=10, description="relative std of a smooth random field "
                                          "multiplying the background (seeded per job); 0 = none")
    field_length_px: Number = added_field(10.0, ge=1, le=1e4, description="correlation length of the field, pixels "
                                          "(autocorrelation exp(-r^2 / (2 l^2)))")
    map_file: str = added_field("", description="a background map (TIFF or PNG, the ROI's shape) multiplying the "
                                "background, scaled to mean 1")
    bleach_tau_frames: Number | None = added_field(None, gt=0, le=1e9, description="background bleaching exp(-f / tau), "
                                                   "f the frame index")
    fluctuation: Number = added_field(0.0, ge=0, le=10, description="per-frame log-normal fluctuation of the whole "
                                      "background (std of its log; mean 1)")

    @property
    def structured(self) -> bool:
        """Whether the background differs between pixels."""
        return bool(self.field_amplitude or self.map_file)

    @property
    def active(self) -> bool:
        return self.structured or self.bleach_tau_frames is not None or bool(self.fluctuation)


class CameraSection(_Section):
    roi_size: Side = Field(1200, description="square frame side, pixels (or roi = [height, width])")
    roi: tuple[Side, Side] | None = Field(None, description="frame [height, width], pixels; overrides roi_size")
    type: Literal["ideal", "scmos", "emccd"] = Field("scmos", description="camera model")
    add_noise: Flag = Field(True, description="false: the expected image in ADU, float32, no noise at all")
    shot_noise: Flag = Field(True, description="Poisson on signal + background")
    # a 16-bit camera saturates at 65535 ADU; 10^6 photons per pixel leaves room for any gain
    background: Number = Field(100.0, ge=0, le=1e6, description="photons / pixel / frame")
    qe: Number = Field(1.0, gt=0, le=1, description="quantum efficiency")
    # real cameras: < 1 e- (sCMOS) to ~100 e- (EMCCD without gain)
    readout_noise: Number = Field(10.0, ge=0, le=1000, description="read noise, electrons rms")
    e_per_adu: Number = Field(1.0, gt=0, le=1000, description="electrons per ADU")
    # the offset is an ADC value: within the 16-bit range
    baseline_adu: Number = Field(100.0, ge=0, le=65535, description="offset added to every pixel, ADU")
    # EMCCD registers reach gains of a few thousand
    em_gain: Number = Field(300.0, ge=1, le=10000, description="emccd only: EM gain")
    bit_depth: Integer = Field(16, ge=8, le=16, description="ADC bits; values clip to [0, 2^bit_depth - 1]")
    maps_path: str = Field("", description="scmos: per-pixel offset/gain/variance maps (HDF5 or TIFF)")
    # up to one frame per hour (time-lapse)
    frame_interval_ms: Number = Field(10.0, gt=0, le=3600000, description="time between frames, ms (the t coordinate)")
    # defects (README "Illumination, background and camera defects"); maps seeded per job, written to calibration.h5
    cic_probability: Number = added_field(0.0, ge=0, le=1, description="emccd: clock-induced charge events per pixel "
                                          "per frame (the SMLM Challenge 2016: 0.002)")
    em_stages: Integer = added_field(536, ge=1, le=10000, description="emccd: stages of the gain register (a CIC "
                                     "electron born in it sees only the stages after it)")
    full_well_e: Number | None = added_field(None, gt=0, le=1e8, description="electrons a pixel holds: collected "
                                             "charge is clipped to it; default: none")
    hot_fraction: Number = added_field(0.0, ge=0, le=1, description="fraction of hot pixels")
    hot_dark_e: Number = added_field(0.0, ge=0, le=1e6, description="mean dark electrons per frame of a hot pixel")
    dead_fraction: Number = added_field(0.0, ge=0, le=1, description="fraction of dead pixels (no charge; offset and "
                                        "read noise only)")
    dsnu_adu: Number = added_field(0.0, ge=0, le=1e4, description="fixed-pattern offset non-uniformity: std, ADU")
    prnu: Number = added_field(0.0, ge=0, le=1, description="photo-response non-uniformity: relative std of the gain")

    @model_validator(mode="after")
    def _defect_keys(self) -> CameraSection:
        if self.cic_probability and self.type != "emccd":
            raise ValueError(f'cic_probability applies to type = "emccd" only (type = "{self.type}")')
        if self.hot_fraction + self.dead_fraction > 1:
            raise ValueError(f"hot_fraction + dead_fraction = {self.hot_fraction + self.dead_fraction:g} exceeds 1")
        if self.hot_dark_e and not self.hot_fraction:
            raise ValueError("hot_dark_e needs hot_fraction > 0")
        return self

    @property
    def defects(self) -> bool:
        """Whether the job's camera has per-pixel defect maps."""
        return bool(self.hot_fraction or self.dead_fraction or self.dsnu_adu or self.prnu)

    @property
    def roi_shape(self) -> tuple[int, int]:
        """(height, width) of a frame in pixels."""
        if self.roi is not None:
            return tuple(self.roi)
        return (self.roi_size, self.roi_size)


class RenderSection(_Section):
    mode: Literal["direct", "oversampled"] = Field(
        "direct", description='"direct" (exact pixel integration) or "oversampled" (render finer, bin)'
    )
    oversample: Integer = Field(4, ge=1, le=16, description="oversampled mode: sub-pixels per pixel side")
    chunk_frames: Count = Field(10, ge=1, description="frames per chunk: the unit of work, of memory and of caching; "
                                "not set: plan chooses >= 10 frames and >= 1 MiB per chunk (and shards past 256 chunks)")
    shard_frames: Count = added_field(0, ge=0, description="frames per Zarr shard (a multiple of chunk_frames): one "
                                      "file, task, cache entry and ground-truth file per shard, chunks inside it; "
                                      "0 = no sharding (layout only: the bytes are the same)")
    crlb: Flag = added_field(False, description="ground truth gains each localization's Cramér–Rao bounds "
                                                "(crlb_x_nm, crlb_y_nm, crlb_z_nm, crlb_photons); costs render time")


#: coefficients of a drift polynomial (constant first); degree 7 covers any smooth stage drift
Polynomial = Annotated[tuple[Number, ...], Field(max_length=8)]


class DriftSection(_Section):
    """Stage drift, applied per frame to every emitter: a polynomial in the frame index plus a random walk."""

    x_nm: Polynomial = added_field((), description="x drift at frame f: x_nm[0] + x_nm[1] f + x_nm[2] f^2 + ..., nm")
    y_nm: Polynomial = added_field((), description="y drift polynomial in the frame index, nm (as x_nm)")
    z_nm: Polynomial = added_field((), description="z drift polynomial in the frame index, nm (as x_nm)")
    # 1 µm per frame is a stage that has come loose
    walk_nm: Number = added_field(0.0, ge=0, le=1000, description="lateral random walk: std of each frame's step in "
                                  "x and in y, nm")
    walk_z_nm: Number = added_field(0.0, ge=0, le=1000, description="axial random walk: std of each frame's z step, nm")

    @property
    def active(self) -> bool:
        return bool(any(self.x_nm) or any(self.y_nm) or any(self.z_nm) or self.walk_nm or self.walk_z_nm)


class JobConfig(_Section):
    """The physical and numerical parameters of one job (the sweep file's ``[base]``)."""

    emitters: EmittersSection = EmittersSection()
    optics: OpticsSection = OpticsSection()
    camera: CameraSection = CameraSection()
    render: RenderSection = RenderSection()
    drift: DriftSection = added_field(DriftSection(), description="stage drift")
    illumination: IlluminationSection = added_field(IlluminationSection(), description="excitation profile")
    background: BackgroundSection = added_field(BackgroundSection(), description="background structure and time course")

    @model_validator(mode="after")
    def _crlb_assumptions(self) -> JobConfig:
        if self.render.crlb and (self.background.structured or self.camera.defects or self.camera.cic_probability):
            raise ValueError("render.crlb assumes a uniform background and a camera without defects or clock-induced "
                             "charge: turn it off, or the background structure and camera defects")
        return self

    @model_validator(mode="after")
    def _source_is_rendered_as_given(self) -> JobConfig:
        if self.emitters.source and self.illumination.active:
            raise ValueError("emitters.source renders the file's photons as they are: illumination.profile must be "
                             '"flat" (the photons of a ground truth already include its illumination)')
        return self

    @model_validator(mode="after")
    def _activation_has_switching(self) -> JobConfig:
        if self.illumination.activation and self.emitters.blinking not in ("markov", "four-state"):
            raise ValueError(f'illumination.activation needs emitters.blinking = "markov" or "four-state" '
                             f'(not "{self.emitters.blinking}")')
        return self

    @model_validator(mode="after")
    def _emitters_above_the_coverslip(self) -> JobConfig:
        optics = self.optics
        if optics.psf == "vectorial" and optics.sample_index not in (None, optics.immersion_index):
            lowest = optics.focus_depth_nm - 500.0 * self.emitters.z_range_um  # z is uniform in ±z_range/2
            if lowest < 0:
                raise ValueError(f"with sample_index {optics.sample_index} the emitters lie above the coverslip: "
                                 f"focus_depth_nm = {optics.focus_depth_nm:g} must be >= z_range_um/2 = "
                                 f"{500.0 * self.emitters.z_range_um:g} nm")
        return self

    @model_validator(mode="after")
    def _source_has_no_orientations(self) -> JobConfig:
        if self.emitters.source and self.optics.dipole == "fixed":
            raise ValueError('emitters.source gives no dipole orientations: use optics.dipole = "free" to re-render it')
        return self

    @model_validator(mode="after")
    def _roi_holds_patch(self) -> JobConfig:
        patch = 2 * self.optics.psf_radius_px + 1
        if min(self.camera.roi_shape) < patch:
            raise ValueError(
                f"roi {list(self.camera.roi_shape)} is smaller than the PSF patch "
                f"2*psf_radius_px+1 = {patch} pixels"
            )
        return self


class SamplesSection(_Section):
    # every sample is a job of its own
    num_samples: Integer = Field(1, ge=1, le=10**6, description="repeats of every job with distinct seeds")
    frames_per_sample: Count | None = Field(None, ge=1, description="overrides emitters.frames")
    naming: str = Field("sample_{sample_id:03d}", description="name suffix of each sample; {sample_id} counts from 1")

    @field_validator("naming")
    @classmethod
    def _naming_formats(cls, value: str) -> str:
        """a format string using only {sample_id}, giving 1 or more of the characters A-Z a-z 0-9 . _ + -"""
        try:
            suffix = value.format(sample_id=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"'{value}' is not a format string using only {{sample_id}} ({exc})") from None
        # the suffix becomes part of job names, hence of folder names
        if not re.fullmatch(SAFE_CHARS, suffix):
            raise ValueError(f"'{value}' gives {suffix!r}; a sample suffix must be 1 or more of the characters "
                             "A-Z a-z 0-9 . _ + -")
        return value


#: what each distribution of a [random] parameter takes: (required keys, optional keys)
DISTRIBUTION_KEYS = {
    "uniform": (("low", "high"), ()),
    "log-uniform": (("low", "high"), ()),
    "normal": (("mean", "std"), ("low", "high")),  # low/high: optional truncation
    "choice": (("values",), ()),
}


class Draw(_Section):
    """How one parameter of a ``[random]`` design is drawn (README "Random designs")."""

    distribution: Literal["uniform", "log-uniform", "normal", "choice"] = Field(
        description='"uniform" (low, high), "log-uniform" (low > 0, high), "normal" (mean, std; optional low, high '
                    'truncate it) or "choice" (values)')
    low: Number | None = Field(None, description="lower end of the range (uniform, log-uniform) or of the truncation (normal)")
    high: Number | None = Field(None, description="upper end of the range (uniform, log-uniform) or of the truncation (normal)")
    mean: Number | None = Field(None, description="normal: mean")
    std: Number | None = Field(None, gt=0, description="normal: standard deviation")
    # the values are checked against the parameter's own type when the sweep is planned
    values: list | None = Field(None, min_length=1, description="choice: the values, drawn with equal probability")

    @model_validator(mode="after")
    def _keys_of_distribution(self) -> Draw:
        required, optional = DISTRIBUTION_KEYS[self.distribution]
        given = [k for k in ("low", "high", "mean", "std", "values") if getattr(self, k) is not None]
        takes = " and ".join(required) + (f" (optional: {' and '.join(optional)})" if optional else "")
        missing = [k for k in required if k not in given]
        if missing:
            raise ValueError(f'distribution "{self.distribution}" needs {" and ".join(missing)}; it takes {takes}')
        extra = [k for k in given if k not in required + optional]
        if extra:
            raise ValueError(f'distribution "{self.distribution}" takes {takes}, not {" and ".join(extra)}')
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low = {self.low!r} must be smaller than high = {self.high!r}")
        if self.distribution == "log-uniform" and self.low <= 0:
            raise ValueError(f'distribution "log-uniform" needs low > 0, got low = {self.low!r}')
        return self


class RandomSection(_Section):
    """``[random]``: ``n`` draws of the parameters named by dotted keys (``"camera.background" = {...}``)."""

    # the parameters are the extra keys, each a Draw (load.py lets dotted keys through the unknown-key check)
    model_config = ConfigDict(extra="allow", frozen=True, validate_default=True)
    __pydantic_extra__: dict[str, Draw]

    n: Integer = Field(ge=1, le=10**6, description="draws (each crossed with [variables], [[zip]] and [samples])")
    method: Literal["random", "lhs"] = Field(
        "random", description='"random" (independent draws; more draws keep the first ones) or "lhs" (Latin hypercube: '
                              "one draw per stratum of each parameter; another n draws other values)")

    @property
    def parameters(self) -> dict[str, Draw]:
        """The drawn parameters: dotted key -> how it is drawn, in the file's order."""
        return dict(self.__pydantic_extra__ or {})


class SweepFile(_Section):
    """A whole sweep file, before expansion into jobs."""

    sweep: SweepSection = SweepSection()
    cluster: ClusterSection = ClusterSection()
    base: JobConfig = JobConfig()
    # the values are validated per job, with the base (load.job_config)
    variables: dict[str, list] = Field(default_factory=dict, description="cartesian product over dotted paths")
    zip: list[dict[str, list]] = Field(default_factory=list, description="groups of parameters varied together")
    samples: SamplesSection | None = None
    random: RandomSection | None = None
