"""configs/challenge2016_*.toml: the SMLM Challenge 2016 acquisition (issue 18, item 5).

The published camera, photophysics, illumination and field-of-view values are pinned here with
their source (repository SMLM-Challenge/Challenge2016), so that an edit of a shipped config that
departs from the Challenge fails; a shortened copy of each file runs, and the frames' background
level is the one this camera chain predicts.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from conftest import REPO, run_module
from kernels.defects import cic_mean_e
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep

CONFIGS = ["challenge2016_2d.toml", "challenge2016_as.toml"]

#: SequenceFactory_Batch_2016.java run() and NoiseModule.java add()
CAMERA = {"type": "emccd", "qe": 0.9, "em_gain": 300.0, "readout_noise": 74.4,
          "cic_probability": 0.002, "e_per_adu": 45.0, "baseline_adu": 100.0, "bit_depth": 16,
          "roi_size": 64}
#: activation_4states.m (Ton, Tdark, Tbleaching "recommended", fstart) and its sigmoid for fov 6400
EMITTERS = {"blinking": "four-state", "lifetime_avg": 3.0, "dark_time_avg": 2.5,
            "bleach_time_avg": 1.5, "lead_in_frames": 20.0, "structure": "filaments",
            "filament_diameter_nm": 25.0, "structure_count": 3, "intensity_sigma": 0.0}
ILLUMINATION = {"profile": "sigmoid", "half_max_radius_nm": 3520.0,  # 0.55 fov
                "quarter_max_radius_nm": 4480.0, "centre_nm": None}    # 0.7 fov
FRAMES = {19996: "LD", 2500: "HD"}  # MT0.N1.LD, MT0.N1.HD
#: mean of that sigmoid over the Challenge's 64 x 64 grid (test below)
SIGMOID_MEAN = 0.730073
#: the shortened run's frames for the LD and HD jobs
SHORT = "[40, 10]"


def _jobs(name):
    return plan_sweep(load_sweep(REPO / "configs" / name)).jobs


@pytest.mark.parametrize("name", CONFIGS)
def test_published_values(name):
    jobs = _jobs(name)
    assert sorted(job.frames for job in jobs) == sorted(FRAMES)
    for job in jobs:
        c = job.config
        for key, value in CAMERA.items():
            assert getattr(c.camera, key) == value, (name, key)
        for key, value in EMITTERS.items():
            assert getattr(c.emitters, key) == value, (name, key)
        for key, value in ILLUMINATION.items():
            assert getattr(c.illumination, key) == value, (name, key)
        assert c.optics.na == 1.49 and c.optics.pixel_size_nm == 100.0  # NA [B], 100 nm pixels
        assert c.emitters.z_range_um <= 1.5  # sample thickness 1500 nm [B]
        # one brightness for all (scaled by the illumination only); 5000 photons on average over
        # the field, as activation_4states.m normalizes: intensity_mu x the sigmoid's grid mean
        assert c.emitters.intensity_mu * SIGMOID_MEAN == pytest.approx(5000.0, rel=1e-4)
        astigmatism = {j: v for j, v in c.optics.zernike.items() if v}
        if name.endswith("_as.toml"):
            assert c.optics.psf == "zernike" and set(astigmatism) == {6} and astigmatism[6] > 0
        else:
            assert c.optics.psf == "zernike" and not astigmatism


def test_the_two_modalities_share_everything_but_the_psf():
    (a, b) = (sorted(_jobs(n), key=lambda j: j.frames) for n in CONFIGS)
    for ja, jb in zip(a, b):
        da, db = ja.config.model_dump(), jb.config.model_dump()
        da["optics"].pop("zernike"), db["optics"].pop("zernike")
        assert da == db


def test_the_sigmoid_mean_used_for_intensity_mu():
    """SIGMOID_MEAN: the profile's mean over activation_4states.m's grid, (i, j) x 100 nm for
    i, j = 1..64, centred in the 6.4 um field (its misalignment left out)."""
    from kernels.illumination import radial_sigmoid_profile

    grid_nm = np.arange(1, 65) * 100.0
    x, y = np.meshgrid(grid_nm, grid_nm)
    mean = radial_sigmoid_profile(x, y, (3200.0, 3200.0), 3520.0, 4480.0).mean()
    assert mean == pytest.approx(SIGMOID_MEAN, abs=5e-6)


# (one modality: the two files differ only in the PSF, test above; both are preflighted by test_config)
@pytest.mark.parametrize("name", CONFIGS[:1])
def test_a_shortened_copy_runs_with_the_predicted_background(name, tmp_path):
    text = (REPO / "configs" / name).read_text()
    assert '"emitters.frames" = [19996, 2500]' in text
    (tmp_path / name).write_text(text.replace("[19996, 2500]", SHORT).replace("chunk_frames = 500",
                                                                              "chunk_frames = 20"))
    proc = run_module("run", tmp_path / name, "--output", tmp_path / "out", "--workers", 2)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    pixels = []
    for job in sorted((tmp_path / "out" / "jobs").iterdir()):
        frames = tifffile.imread(job / "simulation.ome.tiff")
        assert frames.dtype == np.uint16 and frames.shape[1:] == (64, 64)
        with h5py.File(job / "emitters.h5", "r") as f:
            loc = f["localizations"][()]
        assert len(loc) and set(np.unique(loc["frame"])) <= set(range(frames.shape[0]))
        # pixels farther than any PSF patch (radius 10 px, corners included) from every emitter
        # of their frame hold background only
        centres_nm = (np.arange(64) + 0.5) * 100.0
        for t in range(frames.shape[0]):
            here = loc[loc["frame"] == t]
            far = np.ones((64, 64), dtype=bool)
            for x, y in zip(here["x_nm"], here["y_nm"]):
                far &= np.hypot(centres_nm[None, :] - x, centres_nm[:, None] - y) > 1600.0
            pixels.append(frames[t][far].astype(np.float64))
    pixels = np.concatenate(pixels)
    assert pixels.size > 20000
    # baseline + (QE * background * G + CIC rate * mean CIC output) / e_per_adu
    expected = 100.0 + (0.9 * 100.0 * 300.0 + 0.002 * cic_mean_e(300.0, 536)) / 45.0
    se = pixels.std(ddof=1) / np.sqrt(pixels.size)
    assert abs(pixels.mean() - expected) < 5 * se, (pixels.mean(), expected, se)
