"""Pydantic models of the sweep file (design §2): one model per section.

Every field carries its unit in the description; defaults are the contract's.
Cross-field rules (``na < immersion_index``, ROI larger than the PSF patch)
live on the model that owns both fields.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SweepSection(_Section):
    name: str | None = Field(None, description="sweep name; default: the sweep file's stem")
    output: str | None = Field(
        None, description="output folder, relative to the sweep file; default: runs/<name> in the current directory"
    )
    seed: int = Field(42, ge=0, le=2**63 - 1, description="master seed of every random stream")


class ClusterSection(_Section):
    workers: int | None = Field(None, ge=1, description="worker processes of the local cluster; default: one per core")
    threads_per_worker: int = Field(1, ge=1, description="threads per worker process")
    memory_limit: str = Field("auto", description='memory limit per worker, e.g. "4GiB"; "auto" = RAM / workers')
    dashboard_address: str = Field(
        "127.0.0.1:8787", description='where the local cluster\'s dashboard listens; a port alone (":8787") is on '
                                      '127.0.0.1 too, "0.0.0.0:8787" opens it to every interface')
    address: str = Field("", description='"tcp://host:8786": use that existing scheduler instead of a local cluster')

    @field_validator("dashboard_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{value!r} is not [host]:port, e.g. \"127.0.0.1:8787\" (port 0 = any free port)")
        return value

    @field_validator("address")
    @classmethod
    def _scheduler(cls, value: str) -> str:
        if value and not re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s:]+:\d+", value):
            raise ValueError(f"{value!r} is not a scheduler address such as \"tcp://host:8786\"")
        return value


class EmittersSection(_Section):
    num_emitters: int = Field(1000, ge=0, description="emitters in the whole movie")
    frames: int = Field(50, ge=1, description="frames in the movie")
    area_px: float = Field(1200.0, gt=0, description="side of the square (centred on the ROI) where emitters are placed, pixels")
    intensity_mu: float = Field(10000.0, ge=0, description="mean photons per frame while fully on")
    intensity_sigma: float = Field(2000.0, ge=0, description="standard deviation of the per-emitter flux, photons")
    lifetime_avg: float = Field(2.5, gt=0, description="mean on-time, frames (exponential)")
    z_range_um: float = Field(1.0, ge=0, description="z uniform in [-z/2, +z/2], micrometres")
    blinking: Literal["single", "markov"] = Field("single", description='"single" (one on-event each) or "markov" (on/off/bleach)')
    off_time_avg: float = Field(100.0, gt=0, description="markov only: mean off-time, frames")
    bleach_prob: float = Field(0.0, ge=0, le=1, description="markov only: probability that an on-event ends in bleaching")
    positions_file: str = Field("", description="optional CSV/HDF5 of emitter positions (x_nm, y_nm[, z_nm])")


class OpticsSection(_Section):
    psf: Literal["gaussian", "astigmatic", "zernike"] = Field("zernike", description="PSF model")
    wavelength_nm: float = Field(670.0, gt=0, description="emission wavelength, nm")
    na: float = Field(1.45, gt=0, description="numerical aperture")
    immersion_index: float = Field(1.518, ge=1, description="refractive index of the immersion medium")
    pixel_size_nm: float = Field(100.0, gt=0, description="pixel size in the sample plane, nm")
    gaussian_sigma_nm: float = Field(0.0, ge=0, description="gaussian/astigmatic PSF sigma, nm; 0 = 0.21*wavelength/na")
    astig_d_nm: float = Field(400.0, ge=0, description="astigmatic: focal offset c of x and y (±), nm")
    astig_depth_nm: float = Field(500.0, gt=0, description="astigmatic: depth of focus d in sigma(z)=sigma0*sqrt(1+((z∓c)/d)^2), nm")
    zernike: dict[int, float] = Field(
        default_factory=lambda: {5: 0.0, 6: 70.0}, description="global aberrations: Noll index -> RMS wavefront, nm"
    )
    zmap_path: str = Field("", description="field-dependent aberrations (HDF5, design §5), added to the global ones")
    psf_radius_px: int = Field(12, ge=1, description="the rendered patch is (2r+1)^2 pixels")

    @field_validator("zernike")
    @classmethod
    def _noll_indices(cls, value: dict[int, float]) -> dict[int, float]:
        bad = [j for j in value if j < 1]
        if bad:
            raise ValueError(f"Noll indices must be >= 1, got {bad[0]}")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _na_below_index(self) -> OpticsSection:
        if self.na >= self.immersion_index:
            raise ValueError(
                f"na = {self.na} must be smaller than immersion_index = {self.immersion_index}"
            )
        return self

    @property
    def sigma_nm(self) -> float:
        """Gaussian sigma in nm (the 0.21 λ/NA fit of the Airy spot when not given)."""
        return self.gaussian_sigma_nm or 0.21 * self.wavelength_nm / self.na


class CameraSection(_Section):
    roi_size: int | None = Field(1200, ge=1, description="square frame side, pixels (or roi = [height, width])")
    roi: tuple[int, int] | None = Field(None, description="frame [height, width], pixels; overrides roi_size")
    type: Literal["ideal", "scmos", "emccd"] = Field("scmos", description="camera model")
    add_noise: bool = Field(True, description="false: the expected image in ADU, float32, no noise at all")
    shot_noise: bool = Field(True, description="Poisson on signal + background")
    background: float = Field(100.0, ge=0, description="photons / pixel / frame")
    qe: float = Field(1.0, gt=0, le=1, description="quantum efficiency")
    readout_noise: float = Field(10.0, ge=0, description="read noise, electrons rms")
    e_per_adu: float = Field(1.0, gt=0, description="electrons per ADU")
    baseline_adu: float = Field(100.0, ge=0, description="offset added to every pixel, ADU")
    em_gain: float = Field(300.0, ge=1, description="emccd only: EM gain")
    bit_depth: int = Field(16, ge=8, le=16, description="ADC bits; values clip to [0, 2^bit_depth - 1]")
    maps_path: str = Field("", description="scmos: per-pixel offset/gain/variance maps (HDF5 or TIFF)")
    frame_interval_ms: float = Field(10.0, gt=0, description="time between frames, ms (the t coordinate)")

    @field_validator("roi")
    @classmethod
    def _roi_positive(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(f"roi = {list(value)}: height and width must be >= 1")
        return value

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
    oversample: int = Field(4, ge=1, le=16, description="oversampled mode: sub-pixels per pixel side")
    chunk_frames: int = Field(10, ge=1, description="frames per chunk: the unit of work, of memory and of caching")


class JobConfig(_Section):
    """The physical and numerical parameters of one job (the sweep file's ``[base]``)."""

    emitters: EmittersSection = EmittersSection()
    optics: OpticsSection = OpticsSection()
    camera: CameraSection = CameraSection()
    render: RenderSection = RenderSection()

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
    num_samples: int = Field(1, ge=1, description="repeats of every job with distinct seeds")
    frames_per_sample: int | None = Field(None, ge=1, description="overrides emitters.frames")
    naming: str = Field("sample_{sample_id:03d}", description="name suffix of each sample; {sample_id} is 0-based")

    @field_validator("naming")
    @classmethod
    def _naming_formats(cls, value: str) -> str:
        try:
            value.format(sample_id=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"'{value}' is not a format string using only {{sample_id}} ({exc})") from None
        return value


class SweepFile(_Section):
    """A whole sweep file, before expansion into jobs."""

    sweep: SweepSection = SweepSection()
    cluster: ClusterSection = ClusterSection()
    base: JobConfig = JobConfig()
    variables: dict[str, list] = Field(default_factory=dict, description="cartesian product over dotted paths")
    zip: list[dict[str, list]] = Field(default_factory=list, description="groups of parameters varied together")
    samples: SamplesSection | None = None
