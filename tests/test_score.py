"""pipeline.score (pipeline/scoring/): matching and metrics by the SMLM Challenge 2016 rules, the readers of other tools'
files, and the `score` verb on a real (tiny) sweep."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import pipeline
from pipeline.scoring import (Localizations, ReaderOptions, Settings, Truth, read_localizations, score_job)
from pipeline.scoring.match import candidates, greedy, hungarian
from pipeline.scoring.metrics import inside_border, photon_threshold

from pathlib import Path

# ------------------------------------------------------------------------------------ helpers


def grid_truth(frames=800, side=5, spacing=1100.0, start=900.0, roi=64, pixel=100.0, seed=0, z=True):
    """Isolated emitters: a side x side grid per frame (spacing >> tolerance), random photons."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(start + spacing * np.arange(side), start + spacing * np.arange(side))
    n = frames * side * side
    jitter = rng.uniform(-100, 100, (2, n))
    return Truth(frame=np.repeat(np.arange(frames), side * side), x_nm=np.tile(gx.ravel(), frames) + jitter[0],
                 y_nm=np.tile(gy.ravel(), frames) + jitter[1],
                 z_nm=rng.uniform(-400, 400, n) if z else np.zeros(n), photons=rng.uniform(100, 5000, n),
                 roi_shape=(roi, roi), pixel_size_nm=pixel)


def as_locs(truth: Truth, z=True, photons=True, **shift) -> Localizations:
    return Localizations(frame=truth.frame.copy(), x_nm=truth.x_nm + shift.get("x", 0.0),
                         y_nm=truth.y_nm + shift.get("y", 0.0),
                         z_nm=(truth.z_nm + shift.get("z", 0.0)) if z else None,
                         photons=truth.photons.copy() if photons else None)


def points(rows, roi=32, pixel=100.0):
    """Truth from (frame, x, y, z, photons) rows."""
    a = np.asarray(rows, dtype=np.float64)
    return Truth(frame=a[:, 0].astype(np.int64), x_nm=a[:, 1], y_nm=a[:, 2], z_nm=a[:, 3], photons=a[:, 4],
                 roi_shape=(roi, roi), pixel_size_nm=pixel)


def locs_of(rows, z=True):
    a = np.asarray(rows, dtype=np.float64)
    return Localizations(frame=a[:, 0].astype(np.int64), x_nm=a[:, 1], y_nm=a[:, 2],
                         z_nm=a[:, 3] if z else None, photons=a[:, 4] if a.shape[1] > 4 else None)


def sequential_greedy(gi, li, dist):
    """The Challenge's loop, literally: candidates sorted by (distance, truth, localization), first come first served."""
    taken_t, taken_l, out = set(), set(), []
    for c in np.lexsort((li, gi, dist)):
        if gi[c] not in taken_t and li[c] not in taken_l:
            taken_t.add(gi[c])
            taken_l.add(li[c])
            out.append(c)
    return np.sort(np.asarray(out, dtype=np.int64))


# ------------------------------------------------------------------------------- acceptance


@pytest.mark.parametrize("z", [False, True])
def test_the_ground_truth_itself_scores_perfectly(z):
    truth = grid_truth(frames=40, z=z)
    m = score_job(truth, as_locs(truth, z=z)).metrics
    assert m["dims"] == (3 if z else 2)
    assert (m["jaccard"], m["recall"], m["precision"]) == (100.0, 1.0, 1.0)
    assert m["fp"] == m["fn"] == 0 and m["tp"] == len(truth)
    assert m["rmse_lat"] == 0.0 and m["efficiency_lat"] == 100.0 and m["photon_bias"] == 0.0
    if z:
        assert m["rmse_ax"] == 0.0 and m["efficiency_ax"] == 100.0 and m["efficiency_3d"] == 100.0
    else:
        assert math.isnan(m["rmse_ax"]) and math.isnan(m["efficiency_3d"])


def test_jitter_of_known_sigma_gives_rmse_lat_sqrt2_sigma_and_the_pull_spread():
    truth = grid_truth(frames=800)
    n = len(truth)
    rng = np.random.default_rng(7)
    sx, sy, sz = 15.0, 15.0, 40.0
    locs = as_locs(truth)
    locs.x_nm = locs.x_nm + rng.normal(0, sx, n)
    locs.y_nm = locs.y_nm + rng.normal(0, sy, n)
    locs.z_nm = locs.z_nm + rng.normal(0, sz, n)
    crlb = 10.0
    truth.crlb = {"x": np.full(n, crlb), "y": np.full(n, crlb), "z": np.full(n, 2 * crlb)}
    m = score_job(truth, locs).metrics
    assert m["tp"] == n  # isolated: every localization finds its own emitter
    se = sx / math.sqrt(2 * n)  # standard error of the radial RMSE for Gaussian errors
    assert abs(m["rmse_lat"] - math.sqrt(2) * sx) < 3 * se
    assert abs(m["rmse_x"] - sx) < 3 * sx / math.sqrt(2 * n)
    assert abs(m["rmse_ax"] - sz) < 3 * sz / math.sqrt(2 * n)
    assert abs(m["bias_x"]) < 3 * sx / math.sqrt(n)
    # pull = error / sqrt(CRLB): spread sigma / sqrt(CRLB) as designed
    assert m["pull_x_std"] == pytest.approx(sx / crlb, rel=3 / math.sqrt(2 * n))
    assert m["pull_z_std"] == pytest.approx(sz / (2 * crlb), rel=3 / math.sqrt(2 * n))
    assert abs(m["pull_y_mean"]) < 3 * (sy / crlb) / math.sqrt(n)
    # the efficiencies of that result, by the formula
    assert m["efficiency_lat"] == pytest.approx(100 - math.sqrt(0 + m["rmse_lat"] ** 2))
    assert m["efficiency_ax"] == pytest.approx(100 - math.sqrt(0 + (0.5 * m["rmse_ax"]) ** 2))
    assert m["efficiency_3d"] == pytest.approx((m["efficiency_lat"] + m["efficiency_ax"]) / 2)


def test_dropping_a_known_fraction_gives_that_recall():
    truth = grid_truth(frames=200)
    keep = np.ones(len(truth), bool)
    keep[np.random.default_rng(1).permutation(len(truth))[: int(0.3 * len(truth))]] = False
    m = score_job(truth, as_locs(truth).select(keep)).metrics
    assert m["recall"] == pytest.approx(0.7, abs=1e-12)
    assert m["precision"] == 1.0
    assert m["jaccard"] == pytest.approx(70.0, abs=1e-9)


def test_adding_known_false_positives_gives_that_precision():
    truth = grid_truth(frames=200, z=False)
    n = len(truth)
    k = n // 4
    rng = np.random.default_rng(2)
    # far from every emitter (between grid rows: >= 300 nm from any) and inside the border
    fake = Localizations(frame=rng.integers(0, 200, k), x_nm=rng.uniform(600, 5800, k),
                         y_nm=1450.0 + 1100.0 * rng.integers(0, 4, k), z_nm=None, photons=None)
    locs = as_locs(truth, z=False, photons=False)
    both = Localizations(frame=np.concatenate([locs.frame, fake.frame]), x_nm=np.concatenate([locs.x_nm, fake.x_nm]),
                         y_nm=np.concatenate([locs.y_nm, fake.y_nm]))
    m = score_job(truth, both).metrics
    assert (m["tp"], m["fp"], m["fn"]) == (n, k, 0)
    assert m["precision"] == pytest.approx(n / (n + k), abs=1e-12)
    assert m["recall"] == 1.0 and math.isnan(m["photon_bias"])


def test_hand_built_case_greedy_by_the_challenge_rules_and_hungarian():
    # ROI 32 x 32 px of 100 nm (3200 nm), border 450 nm, tolerance 250 nm.
    truth = points([
        (0, 1000, 1000, 0, 1000),   # A
        (0, 1300, 1000, 0, 1000),   # B
        (1, 2000, 2000, 0, 50),     # C (dim)
        (1, 2500, 2500, 0, 2000),   # D
        (1, 300, 1500, 0, 3000),    # E: x < 450, excluded before anything
    ])
    locs = locs_of([
        (0, 1140, 1000, 0, 900),    # P: 140 from A, 160 from B
        (0, 830, 1000, 0, 1100),    # Q: 170 from A, 470 from B (no)
        (1, 2010, 2000, 0, 60),     # R: 10 from C
        (1, 2500, 2700, 0, 2100),   # S: 200 from D
        (1, 3000, 3000, 0, 500),    # T: y > 3200 - 450, excluded
    ], z=False)
    # by hand, greedy: A-P (140) first, which leaves B and Q without a partner; C-R; D-S
    g = score_job(truth, locs, Settings()).metrics
    assert (g["n_truth"], g["n_localizations"]) == (4, 4)
    assert (g["tp"], g["fp"], g["fn"]) == (3, 1, 1)
    assert g["jaccard"] == pytest.approx(60.0)
    assert g["rmse_lat"] == pytest.approx(math.sqrt((140**2 + 10**2 + 200**2) / 3))
    # photon quantile 0.2 of [50, 1000, 1000, 2000] (MATLAB's quantile) = 335 -> C is not counted, and R
    # (matched to C) is not a false positive
    assert photon_threshold(np.array([50.0, 1000, 1000, 2000]), 0.2) == 335.0
    q = score_job(truth, locs, Settings(photon_quantile=0.2)).metrics
    assert q["photon_threshold"] == 335.0
    assert (q["tp"], q["fp"], q["fn"]) == (2, 1, 1)
    assert (q["recall"], q["precision"], q["jaccard"]) == pytest.approx((2 / 3, 2 / 3, 50.0))
    rmse = math.sqrt((140**2 + 200**2) / 2)
    assert q["rmse_lat"] == pytest.approx(rmse)
    assert (q["bias_x"], q["bias_y"]) == pytest.approx((70.0, 100.0))
    assert q["efficiency_lat"] == pytest.approx(100 - math.sqrt(50.0**2 + rmse**2))
    assert q["photon_bias"] == pytest.approx(((900 - 1000) + (2100 - 2000)) / 2)
    # Hungarian: the most pairs: A-Q, B-P, D-S (and C-R, not counted)
    h = score_job(truth, locs, Settings(match="hungarian", photon_quantile=0.2)).metrics
    assert (h["tp"], h["fp"], h["fn"]) == (3, 0, 0)
    assert h["jaccard"] == 100.0
    assert h["rmse_lat"] == pytest.approx(math.sqrt((170**2 + 160**2 + 200**2) / 3))


def test_3d_axial_tolerance_and_3d_distance_order():
    truth = points([(0, 1000, 1000, 0, 1), (0, 2000, 2000, 0, 1), (0, 2100, 2000, 300, 1)])
    locs = locs_of([(0, 1050, 1000, 600), (0, 1200, 1000, 0), (0, 2050, 2000, 280)])
    s = score_job(truth, locs, Settings(dims=3))
    pairs = sorted(zip(s.truth_index.tolist(), s.loc_index.tolist()))
    # 50 nm laterally but 600 nm axially: no; 200 nm: yes. W is 284 nm (3-D) from H, 54 nm from I
    assert pairs == [(0, 1), (2, 2)]
    assert s.metrics["rmse_ax"] == pytest.approx(math.sqrt((0 + 20**2) / 2))
    # scored in 2-D, W is 50 nm from both H and I: the tie goes to the lower truth index (H)
    s2 = score_job(truth, locs, Settings(dims=2))
    assert sorted(zip(s2.truth_index.tolist(), s2.loc_index.tolist())) == [(0, 0), (1, 2)]


def test_tolerance_and_border_are_inclusive_and_strict_as_the_challenge():
    truth = points([(0, 1000, 1000, 0, 1), (0, 450, 1000, 0, 1), (0, 2000, 2000, 0, 1)])
    locs = locs_of([(0, 1250, 1000, 0), (0, 2000, 2250.0001, 0)], z=False)
    assert list(inside_border(truth.x_nm, truth.y_nm, truth.fov_nm, 450.0)) == [True, False, True]
    m = score_job(truth, locs).metrics
    assert (m["n_truth"], m["tp"], m["fp"], m["fn"]) == (2, 1, 1, 1)  # 250 nm matches, 250.0001 does not


def test_greedy_equals_the_challenge_loop_on_random_cases_and_hungarian_never_has_fewer_pairs():
    rng = np.random.default_rng(3)
    for trial in range(150):
        nt, nl, frames = rng.integers(1, 50), rng.integers(1, 50), rng.integers(1, 4)
        pts = [rng.uniform(0, 1200, (k, 2)) for k in (nt, nl)]
        if trial % 2:  # on a coarse grid: many equal distances (ties)
            pts = [np.round(p / 100) * 100 for p in pts]
        tf, lf = rng.integers(0, frames, nt), rng.integers(0, frames, nl)
        gi, li, d = candidates(tf, pts[0][:, 0], pts[0][:, 1], lf, pts[1][:, 0], pts[1][:, 1], 250.0)
        expected = sequential_greedy(gi, li, d)
        assert np.array_equal(greedy(gi, li, d), expected)
        assert np.array_equal(greedy(gi, li, d, max_rounds=1), expected)
        h = hungarian(gi, li, d)
        assert len(set(gi[h])) == len(h) == len(set(li[h])) >= len(expected)


def test_no_localizations_at_all():
    truth = grid_truth(frames=3)
    empty = Localizations(frame=np.zeros(0, np.int64), x_nm=np.zeros(0), y_nm=np.zeros(0))
    m = score_job(truth, empty).metrics
    assert (m["tp"], m["fp"], m["fn"]) == (0, 0, len(truth))
    assert m["recall"] == 0.0 and m["jaccard"] == 0.0 and math.isnan(m["precision"])
    assert math.isnan(m["rmse_lat"]) and math.isnan(m["efficiency_lat"])


def test_bad_settings_are_user_errors():
    for kwargs in ({"match": "nearest"}, {"tolerance_nm": 0}, {"border_nm": -1}, {"photon_quantile": 1.5},
                   {"dims": 4}):
        with pytest.raises(pipeline.UserError):
            Settings(**kwargs)


# ------------------------------------------------------------------------------------ readers
# Each file is written here in its tool's own layout from positions known in the project's convention
# (nm, origin at the corner of pixel (0, 0), frames 0-based), then read back.

P = 100.0  # nm per pixel


@pytest.fixture
def known():
    rng = np.random.default_rng(5)
    n = 50
    return {"frame": rng.integers(0, 20, n), "x": rng.uniform(0, 3200, n), "y": rng.uniform(0, 3200, n),
            "z": rng.uniform(-500, 500, n), "photons": rng.uniform(100, 5000, n)}


def _check(locs, known, atol=1e-6, z=True, photons=True):
    order = np.lexsort((locs.x_nm, locs.frame))
    ref = np.lexsort((known["x"], known["frame"]))
    np.testing.assert_array_equal(locs.frame[order], known["frame"][ref])
    np.testing.assert_allclose(locs.x_nm[order], known["x"][ref], atol=atol)
    np.testing.assert_allclose(locs.y_nm[order], known["y"][ref], atol=atol)
    if z:
        np.testing.assert_allclose(locs.z_nm[order], known["z"][ref], atol=atol)
    if photons:
        np.testing.assert_allclose(locs.photons[order], known["photons"][ref], rtol=1e-6)


def test_thunderstorm_csv_nm_and_px(tmp_path, known):
    import pandas as pd

    path = tmp_path / "ts.csv"
    pd.DataFrame({"id": np.arange(50), "frame": known["frame"] + 1, "x [nm]": known["x"], "y [nm]": known["y"],
                  "z [nm]": known["z"], "sigma [nm]": 130.0, "intensity [photon]": known["photons"],
                  "offset [photon]": 10.0, "bkgstd [photon]": 3.0, "uncertainty [nm]": 5.0}).to_csv(path, index=False)
    locs = read_localizations(path)
    assert locs.format == "thunderstorm"
    _check(locs, known)
    # ThunderSTORM in pixels (corner origin, as its fits: + 0.5 px to the pixel centre)
    px = tmp_path / "ts_px.csv"
    pd.DataFrame({"frame": known["frame"] + 1, "x [px]": known["x"] / P, "y [px]": known["y"] / P,
                  "intensity [photon]": known["photons"]}).to_csv(px, index=False)
    _check(read_localizations(px, default_pixel_size_nm=P), known, z=False)


def write_picasso(path, known, pixel_size=P, z=True):
    import h5py
    import yaml

    dtype = [("frame", "u4"), ("x", "f4"), ("y", "f4"), ("photons", "f4"), ("sx", "f4"), ("sy", "f4"),
             ("bg", "f4"), ("lpx", "f4"), ("lpy", "f4"), ("ellipticity", "f4"), ("net_gradient", "f4")]
    if z:
        dtype.append(("z", "f4"))
    locs = np.zeros(len(known["x"]), dtype=dtype)
    locs["frame"] = known["frame"]
    locs["x"] = known["x"] / P - 0.5  # Picasso: pixel centres at integers
    locs["y"] = known["y"] / P - 0.5
    locs["photons"] = known["photons"]
    locs["sx"] = locs["sy"] = 1.3
    if z:
        locs["z"] = known["z"]
    with h5py.File(path, "w") as f:
        f.create_dataset("locs", data=locs)
    info = [{"Byte Order": "<", "Data Type": "uint16", "Frames": 20, "Height": 32, "Width": 32},
            {"Generated by": "Picasso Localize", "Box Size": 7, "Min. Net Gradient": 5000, "Pixelsize": pixel_size}]
    with open(path.with_suffix(".yaml"), "w") as f:
        yaml.dump_all(info, f, default_flow_style=False)


def test_picasso_hdf5_and_yaml(tmp_path, known):
    path = tmp_path / "movie_locs.hdf5"
    write_picasso(path, known)
    locs = read_localizations(path, default_pixel_size_nm=P)
    assert locs.format == "picasso" and locs.pixel_size_nm == P and not locs.notes
    _check(locs, known, atol=2e-3)  # float32 pixels
    # a yaml that states another pixel size than the simulation's: used, and said
    write_picasso(path, known, pixel_size=130.0)
    locs = read_localizations(path, default_pixel_size_nm=P)
    assert any("130" in note for note in locs.notes)
    np.testing.assert_allclose(locs.x_nm, (known["x"] / P - 0.5 + 0.5) * 130.0, atol=3e-3)
    _check(read_localizations(path, options=ReaderOptions(pixel_size_nm=P)), known, atol=2e-3)


def write_decode_h5(path, known, unit="px"):
    import h5py

    scale = 1.0 if unit == "px" else P
    # DECODE's x is the first image axis (rows), centres at integers
    xyz = np.column_stack([(known["y"] / P - 0.5) * scale, (known["x"] / P - 0.5) * scale, known["z"]])
    with h5py.File(path, "w") as f:
        m = f.create_group("meta")
        m.attrs.update({"xy_unit": unit, "px_size": np.array([P, P])})
        f.create_group("decode").attrs["version"] = "0.10.0"
        g = f.create_group("data")
        g.create_dataset("xyz", data=xyz.astype(np.float32))
        g.create_dataset("xyz_sig", data=h5py.Empty("f"))
        g.create_dataset("xyz_cr", data=h5py.Empty("f"))
        g.create_dataset("phot", data=known["photons"].astype(np.float32))
        g.create_dataset("phot_cr", data=h5py.Empty("f"))
        g.create_dataset("phot_sig", data=h5py.Empty("f"))
        g.create_dataset("frame_ix", data=known["frame"].astype(np.int64))
        g.create_dataset("id", data=np.arange(len(xyz)))
        g.create_dataset("prob", data=np.ones(len(xyz), np.float32))
        g.create_dataset("bg", data=np.full(len(xyz), 10.0, np.float32))


@pytest.mark.parametrize("unit", ["px", "nm"])
def test_decode_h5(tmp_path, known, unit):
    path = tmp_path / f"emitters_{unit}.h5"
    write_decode_h5(path, known, unit)
    locs = read_localizations(path)
    assert locs.format == "decode"
    _check(locs, known, atol=2e-3)


def test_decode_csv(tmp_path, known):
    import pandas as pd

    path = tmp_path / "emitters.csv"
    meta = {"xy_unit": "px", "px_size": [P, P]}
    with open(path, "w") as f:
        f.write(f"# DECODE EmitterSet\n# {json.dumps({'version': '0.10.0'})}\n# {json.dumps(meta)}\n")
    pd.DataFrame({"x": known["y"] / P - 0.5, "y": known["x"] / P - 0.5, "z": known["z"], "phot": known["photons"],
                  "frame_ix": known["frame"], "id": -1, "prob": 1.0, "bg": 10.0, "x_cr": np.nan, "y_cr": np.nan,
                  "z_cr": np.nan}).to_csv(path, mode="a", index=False)
    locs = read_localizations(path)
    assert locs.format == "decode"
    _check(locs, known, atol=1e-6)


def test_plain_csv_with_a_column_mapping_units_and_frame_base(tmp_path, known):
    import pandas as pd

    path = tmp_path / "fit.csv"
    pd.DataFrame({"t": known["frame"] + 1, "xpos_um": known["x"] / 1000, "ypos_um": known["y"] / 1000,
                  "depth_um": known["z"] / 1000, "N": known["photons"]}).to_csv(path, index=False)
    options = ReaderOptions(columns={"frame": "t", "x": "xpos_um", "y": "ypos_um", "z": "depth_um", "photons": "N"},
                            xy_unit="um", z_unit="um", frame_base=1)
    locs = read_localizations(path, "csv", options)
    _check(locs, known)
    # without a mapping: the project's own column names are found
    own = tmp_path / "own.csv"
    pd.DataFrame({"frame": known["frame"], "x_nm": known["x"], "y_nm": known["y"], "z_nm": known["z"],
                  "photons": known["photons"]}).to_csv(own, index=False)
    assert read_localizations(own).format == "csv"
    _check(read_localizations(own), known)
    # a wrong frame base is refused (frame 0 numbered from 1)
    with pytest.raises(pipeline.UserError, match="frame"):
        read_localizations(own, options=ReaderOptions(frame_base=1))
    with pytest.raises(pipeline.UserError, match="no column"):
        read_localizations(own, options=ReaderOptions(columns={"x": "nope"}))


# --------------------------------------------------------------------------- the verb, end to end


@pytest.fixture(scope="module")
def scored_run(tiny_run, tmp_path_factory):
    """A copy of the session's tiny run (score writes OUTPUT/score/ into it)."""
    import shutil

    return Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp("score_run") / "out",
                                ignore=shutil.ignore_patterns("dask-spill")))


def test_score_verb_writes_the_contract_files(scored_run, cli, tmp_path):
    code, out, err = cli("score", scored_run, "--localizations", str(scored_run / "jobs" / "{job}" / "localizations.csv"))
    assert code == 0, err
    import pandas as pd

    table = pd.read_csv(scored_run / "score" / "score.csv")
    jobs = sorted(p.name for p in (scored_run / "jobs").iterdir())
    assert table["job"].tolist() == jobs  # one row per job
    assert table.columns[:2].tolist() == ["job", "num_emitters"]  # varied parameters, then metrics
    for word in ("jaccard", "recall", "precision", "rmse_lat", "rmse_ax", "efficiency"):
        assert any(word in c for c in table.columns), word
    assert all(c == c.lower() and " " not in c for c in table.columns)
    # the ground truth's own CSV (3 decimals) scores perfectly: Jaccard in percent, recall as a fraction
    assert np.all(table["jaccard"] == 100.0) and np.all(table["recall"] == 1.0)
    assert np.all(table["rmse_lat"] < 1e-3) and np.all(table["efficiency_lat"] > 99.99)
    for metric in ("jaccard", "recall", "precision", "rmse_lat", "efficiency_lat"):
        assert (scored_run / "score" / f"{metric}_vs_num_emitters.png").stat().st_size > 1000
    assert "jaccard" in out and "job_0000_num_emitters_20" in out  # the printed table
    info = json.loads((scored_run / "score" / "score.json").read_text())
    assert info["settings"]["match"] == "greedy" and info["varied_paths"] == {"num_emitters": "emitters.num_emitters"}


def test_score_api_dataset_like_open_sweep_stack_and_a_real_format(scored_run, tmp_path):
    import pandas as pd

    fits = tmp_path / "fits"
    fits.mkdir()
    for job in (scored_run / "jobs").iterdir():  # a localizer's output in Picasso's layout, 2-D
        gt = pd.read_csv(job / "localizations.csv")
        write_picasso(fits / f"{job.name}.hdf5", {"frame": gt["frame"].to_numpy() - 1, "x": gt["x [nm]"].to_numpy(),
                                                   "y": gt["y [nm]"].to_numpy(), "photons": gt["intensity [photon]"].to_numpy()},
                      z=False)
    import pipeline.scoring.readers  # noqa: F401  (pipeline.score stays the function)

    result = pipeline.score(scored_run, str(fits / "{job}.hdf5"), match="hungarian", write=False)
    assert result.folder is None and not result.files
    assert result.dims == ["num_emitters"]
    assert result.dataset["jaccard"].dims == ("num_emitters",)
    assert result.dataset["num_emitters"].values.tolist() == [20, 40]
    assert set(result.table["dims"]) == {2} and np.all(result.table["jaccard"] == 100.0)
    assert np.all(result.table["rmse_lat"] < 2e-3)  # float32 pixels


def test_score_refuses_missing_files_and_a_pattern_without_job(scored_run, cli, tmp_path):
    code, _, err = cli("score", scored_run, "--localizations", str(tmp_path / "{job}.csv"))
    assert code == 2 and "no localization file for job" in err
    code, _, err = cli("score", scored_run, "--localizations", str(tmp_path / "one.csv"))
    assert code == 2 and "{job}" in err
    code, _, err = cli("score", scored_run, "--localizations", "x/{job}.csv", "--jobs", "nothing*")
    assert code == 2 and "nothing" in err
    code, _, err = cli("score", tmp_path, "--localizations", "{job}.csv")
    assert code == 2 and "jobs" in err


def test_photon_bins_split_recall_by_the_truth_photons(scored_run, cli):
    code, _, err = cli("score", scored_run, "--localizations", str(scored_run / "jobs" / "{job}" / "localizations.csv"),
                       "--photon-bins", "0,500,1000,inf", "--no-plots")
    assert code == 0, err
    import pandas as pd

    bins = pd.read_csv(scored_run / "score" / "score_by_photons.csv")
    assert bins.groupby("job").size().tolist() == [3, 3]
    total = pd.read_csv(scored_run / "score" / "score.csv").set_index("job")
    for job, rows in bins.groupby("job"):
        assert rows["n_truth"].sum() == total.loc[job, "n_truth"] and rows["tp"].sum() == total.loc[job, "tp"]
    assert not list((scored_run / "score").glob("*.png"))  # an earlier score's plots are not left behind
    result = pipeline.score(scored_run, str(scored_run / "jobs" / "{job}" / "localizations.csv"), photon_bins=2, write=False)
    assert result.by_photons.groupby("job").size().tolist() == [2, 2]
    assert abs(result.by_photons["n_truth"].iloc[0] - result.by_photons["n_truth"].iloc[1]) <= 1  # equal counts


def test_plot_lines_one_per_value_of_the_other_parameters_mean_over_samples(tmp_path):
    from pipeline.scoring.report import dataset, plot_metrics, series, table, write_netcdf

    rows = [{"job": f"j{i}", "psf": psf, "add_noise": noise, "sample": s, "jaccard": 50 + 10 * noise + 5 * s + (psf == "z")}
            for i, (psf, noise, s) in enumerate([(p, n, s) for p in ("g", "z") for n in (True, False) for s in (1, 2)])]
    frame = table(rows, ["psf", "add_noise", "sample"])
    lines = series(frame, ["psf", "add_noise", "sample"], "add_noise", "jaccard")
    assert [label for label, *_ in lines] == ["psf = g", "psf = z"]
    label, x, mean, sem = lines[1]
    assert x == [False, True]  # a boolean parameter: both values (not read as a mask)
    np.testing.assert_allclose(mean, [58.5, 68.5])
    np.testing.assert_allclose(sem, [2.5, 2.5])  # std of (55, 60) / sqrt(2)
    paths = plot_metrics(frame, ["psf", "add_noise", "sample"], tmp_path, ["jaccard"])
    assert sorted(p.name for p in paths) == ["jaccard_vs_add_noise.png", "jaccard_vs_psf.png"]
    ds = dataset(frame, ["psf", "add_noise", "sample"])
    assert ds["jaccard"].dims == ("psf", "add_noise", "sample")
    path, engine = write_netcdf(ds, tmp_path / "score.nc")
    import xarray as xr

    back = xr.open_dataset(path)
    assert back["jaccard"].sel(psf="z", add_noise=1, sample=2).item() == 71.0
    back.close()
