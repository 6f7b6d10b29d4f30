"""[random] designs: marginals, the Latin-hypercube property, reproducibility, extension, crossing, a real run.

Statistical checks use a fixed seed and a significance level of ALPHA: a sampler with the wrong
distribution (a uniform for a log-uniform, an untruncated normal, an off-by-one integer range)
gives p-values far below it at these sample sizes.
"""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest
from scipy import stats

from conftest import run_module

#: significance level of every goodness-of-fit test
ALPHA = 1e-3

BASE = """
[sweep]
name = "design"
seed = 5

[base.emitters]
num_emitters = 10
frames = 4
area_px = 14.0
intensity_mu = 3000.0

[base.optics]
psf = "gaussian"
psf_radius_px = 3

[base.camera]
roi_size = 16
background = 10.0
readout_noise = 2.0

[base.render]
chunk_frames = 2
"""


def _section(n: int, method: str, params: dict):
    from pipeline.config.models import RandomSection

    return RandomSection.model_validate({"n": n, "method": method, **params})


def _column(n, method, key, spec, seed=17):
    from pipeline.plan.design import draw_design

    return [d[key] for d in draw_design(_section(n, method, {key: spec}), seed)]


def _plan(write_sweep, text, name="sweep.toml", base=BASE):
    from pipeline.config import load_sweep
    from pipeline.plan import plan_sweep

    return plan_sweep(load_sweep(write_sweep(base + textwrap.dedent(text), name)))


@pytest.mark.parametrize("method", ["random", "lhs"])
def test_continuous_marginals_pass_a_ks_test(method):
    n = 2000
    cases = [
        ("camera.background", {"distribution": "uniform", "low": 5.0, "high": 200.0}, stats.uniform(5.0, 195.0).cdf),
        ("camera.background", {"distribution": "log-uniform", "low": 5.0, "high": 200.0}, stats.loguniform(5.0, 200.0).cdf),
        ("emitters.intensity_mu", {"distribution": "normal", "mean": 3000.0, "std": 800.0}, stats.norm(3000.0, 800.0).cdf),
        ("emitters.intensity_mu", {"distribution": "normal", "mean": 3000.0, "std": 800.0, "low": 2500.0, "high": 5000.0},
         stats.truncnorm((2500.0 - 3000.0) / 800.0, (5000.0 - 3000.0) / 800.0, loc=3000.0, scale=800.0).cdf),
    ]
    for key, spec, cdf in cases:
        x = np.array(_column(n, method, key, spec))
        assert all(isinstance(v, float) for v in x)
        assert stats.kstest(x, cdf).pvalue > ALPHA, spec
        if "low" in spec:
            assert x.min() >= spec["low"] and x.max() <= spec["high"]


@pytest.mark.parametrize("method", ["random", "lhs"])
def test_choice_frequencies_pass_a_chi_square_test(method):
    values = ["gaussian", "astigmatic", "zernike"]
    drawn = _column(3000, method, "optics.psf", {"distribution": "choice", "values": values})
    counts = [drawn.count(v) for v in values]
    assert sum(counts) == 3000
    assert stats.chisquare(counts).pvalue > ALPHA


def test_integer_keys_get_integer_draws_with_the_documented_laws():
    from pipeline.plan.design import parameter_kind

    assert parameter_kind("emitters.num_emitters") == "integer" and parameter_kind("camera.background") == "number"
    n = 4000
    # uniform: every integer of [low, high], both ends included, equally likely
    k = _column(n, "random", "emitters.num_emitters", {"distribution": "uniform", "low": 10, "high": 19})
    assert all(type(v) is int for v in k) and set(k) == set(range(10, 20))
    assert stats.chisquare([k.count(v) for v in range(10, 20)]).pvalue > ALPHA
    # log-uniform: the floor of a log-uniform on [low, high + 1): P(k) = log((k+1)/k) / log((high+1)/low)
    k = _column(n, "random", "emitters.num_emitters", {"distribution": "log-uniform", "low": 1, "high": 9})
    assert all(type(v) is int for v in k) and set(k) <= set(range(1, 10))
    expected = [n * math.log((v + 1) / v) / math.log(10) for v in range(1, 10)]
    assert stats.chisquare([k.count(v) for v in range(1, 10)], expected).pvalue > ALPHA
    # normal: the nearest integer of the draw, inside the truncation
    k = _column(n, "random", "emitters.num_emitters", {"distribution": "normal", "mean": 20.0, "std": 4.0, "low": 12, "high": 28})
    assert all(type(v) is int for v in k) and min(k) >= 12 and max(k) <= 28
    p = np.diff(stats.norm(20.0, 4.0).cdf(np.arange(11.5, 29.5)))  # 12 .. 28 (their ends cut at low/high)
    p[0] -= stats.norm(20.0, 4.0).cdf(12.0) - stats.norm(20.0, 4.0).cdf(11.5)
    p[-1] -= stats.norm(20.0, 4.0).cdf(28.5) - stats.norm(20.0, 4.0).cdf(28.0)
    assert stats.chisquare([k.count(v) for v in range(12, 29)], n * p / p.sum()).pvalue > ALPHA


def test_lhs_puts_exactly_one_draw_in_each_stratum_of_each_parameter():
    from pipeline.plan.design import draw_design

    n = 60
    section = _section(n, "lhs", {
        "camera.background": {"distribution": "uniform", "low": 5.0, "high": 200.0},
        "emitters.intensity_mu": {"distribution": "log-uniform", "low": 100.0, "high": 1e5},
        "optics.na": {"distribution": "normal", "mean": 1.3, "std": 0.1, "low": 1.1, "high": 1.45},
        "emitters.num_emitters": {"distribution": "uniform", "low": 1, "high": 60},
        "optics.psf": {"distribution": "choice", "values": ["gaussian", "astigmatic", "zernike"]},
    })
    draws = draw_design(section, 3)
    col = {key: np.array([d[key] for d in draws]) for key in section.parameters}
    a, b = stats.norm(1.3, 0.1).cdf(1.1), stats.norm(1.3, 0.1).cdf(1.45)
    strata = {
        "camera.background": (col["camera.background"] - 5.0) / 195.0,
        "emitters.intensity_mu": np.log(col["emitters.intensity_mu"] / 100.0) / np.log(1e3),
        "optics.na": (stats.norm(1.3, 0.1).cdf(col["optics.na"]) - a) / (b - a),
        "emitters.num_emitters": (col["emitters.num_emitters"] - 1) / 60,  # 60 integers for 60 strata
    }
    for key, u in strata.items():
        assert sorted(np.floor(u * n).astype(int)) == list(range(n)), key
    # each parameter has its own permutation of the strata: rank correlations are those of independent
    # columns (standard error 1/sqrt(n - 1)), not the 1 of a shared permutation
    ranks = np.array([stats.rankdata(u) for u in strata.values()])
    rho = np.corrcoef(ranks)[np.triu_indices(len(strata), 1)]
    assert np.all(np.abs(rho) < 5 / math.sqrt(n - 1)), rho
    # a choice of 3 values over 60 strata: each value exactly 20 times
    assert [list(col["optics.psf"]).count(v) for v in ("gaussian", "astigmatic", "zernike")] == [20, 20, 20]
    # the same n with method random is not stratified (the test can tell the two apart)
    draws = draw_design(_section(n, "random", {"camera.background": section.parameters["camera.background"]}), 3)
    u = (np.array([d["camera.background"] for d in draws]) - 5.0) / 195.0
    assert sorted(np.floor(u * n).astype(int)) != list(range(n))


RANDOM = """
[random]
n = {n}
method = "{method}"
"emitters.num_emitters" = {{ distribution = "uniform", low = 5, high = 30 }}
"camera.background" = {{ distribution = "log-uniform", low = 5.0, high = 200.0 }}
"optics.psf" = {{ distribution = "choice", values = ["gaussian", "astigmatic"] }}
"""


def _ids(plan):
    return [(j.name, j.fingerprint, j.varied) for j in plan.jobs]


def test_same_file_same_jobs_and_the_seed_decides(write_sweep):
    text = RANDOM.format(n=6, method="random")
    first, again = _plan(write_sweep, text, "a.toml"), _plan(write_sweep, text, "b.toml")
    assert _ids(first) == _ids(again) and len(first.jobs) == 6
    # the parameters' order in the file changes nothing: each has its own stream
    lines = text.strip().splitlines()
    reordered = _plan(write_sweep, "\n".join(lines[:3] + lines[3:][::-1]) + "\n", "c.toml")
    assert _ids(reordered) == _ids(first)
    reseeded = _plan(write_sweep, text, "d.toml", base=BASE.replace("seed = 5", "seed = 6"))
    assert [j.varied for j in reseeded.jobs] != [j.varied for j in first.jobs]


def test_more_draws_keep_the_first_jobs_for_method_random(write_sweep):
    grid = '\n[variables]\n"camera.readout_noise" = [1.0, 2.0]\n'
    small = _plan(write_sweep, RANDOM.format(n=5, method="random") + grid, "small.toml")
    large = _plan(write_sweep, RANDOM.format(n=10, method="random") + grid, "large.toml")
    assert len(small.jobs) == 10 and len(large.jobs) == 20
    # same names (indices, draws, values) and fingerprints: their groups and chunks are reused
    assert _ids(large)[:10] == _ids(small)
    assert len({j.fingerprint for j in large.jobs}) == 20
    # a Latin hypercube's strata depend on n: other values (documented)
    lhs_small = _plan(write_sweep, RANDOM.format(n=5, method="lhs"), "lhs5.toml")
    lhs_large = _plan(write_sweep, RANDOM.format(n=10, method="lhs"), "lhs10.toml")
    assert [j.varied for j in lhs_large.jobs[:5]] != [j.varied for j in lhs_small.jobs]


def test_an_added_parameter_leaves_the_other_parameters_draws(write_sweep):
    one = _plan(write_sweep, RANDOM.format(n=4, method="random"), "one.toml")
    two = _plan(write_sweep, RANDOM.format(n=4, method="random")
                + '"emitters.intensity_mu" = { distribution = "normal", mean = 3000.0, std = 300.0, low = 1.0 }\n', "two.toml")
    for a, b in zip(one.jobs, two.jobs):
        assert {k: b.varied[k] for k in a.varied} == a.varied and "emitters.intensity_mu" in b.varied


def test_crossing_with_variables_zip_and_samples_is_the_product(write_sweep):
    plan = _plan(write_sweep, RANDOM.format(n=3, method="random") + """
        [variables]
        "camera.readout_noise" = [1.0, 2.0]

        [[zip]]
        "optics.na" = [1.3, 1.4]
        "optics.immersion_index" = [1.5, 1.52]

        [samples]
        num_samples = 2
        """)
    assert len(plan.jobs) == 3 * 2 * 2 * 2
    assert plan.random_keys == ("emitters.num_emitters", "camera.background", "optics.psf")
    assert plan.varied_keys == plan.random_keys + ("camera.readout_noise", "optics.na", "optics.immersion_index")
    assert len({j.fingerprint for j in plan.jobs}) == len(plan.jobs)
    for draw in range(3):
        block = plan.jobs[8 * draw: 8 * draw + 8]  # the draws are the slowest axis
        assert {j.draw.index for j in block} == {draw}
        assert len({json.dumps({k: j.varied[k] for k in plan.random_keys}) for j in block}) == 1
        grid = {(j.varied["camera.readout_noise"], j.varied["optics.na"], j.varied["optics.immersion_index"], j.sample_id)
                for j in block}
        assert grid == {(r, na, ni, s) for r in (1.0, 2.0) for na, ni in ((1.3, 1.5), (1.4, 1.52)) for s in (1, 2)}
    job = plan.jobs[9]
    assert job.name.startswith("job_0009_r0001-") and job.name.endswith("_readout_noise_1_na_1.3_immersion_index_1.5_sample_002")
    assert type(job.config.emitters.num_emitters) is int and job.config.emitters.num_emitters == job.varied["emitters.num_emitters"]
    assert job.config.camera.background == job.varied["camera.background"]


def test_two_draws_with_equal_values_are_two_realizations(write_sweep):
    """The draw index seeds a drawn job like a sample id: equal values are not one simulation."""
    plan = _plan(write_sweep, '[random]\nn = 3\n"optics.psf" = { distribution = "choice", values = ["gaussian"] }\n')
    assert [j.varied for j in plan.jobs] == [{"optics.psf": "gaussian"}] * 3
    assert len({j.fingerprint for j in plan.jobs}) == 3 and len({j.seed_digest for j in plan.jobs}) == 3


def test_plan_prints_the_design_and_short_values(cli, write_sweep, tmp_path):
    path = write_sweep(BASE + RANDOM.format(n=4, method="lhs"))
    code, out, err = cli("plan", path)
    assert code == 0, err
    lines = out.splitlines()
    assert "random design: 4 draws (method lhs) of emitters.num_emitters, camera.background, optics.psf" in out
    header = next(line for line in lines if line.startswith("job "))
    assert header.split()[:4] == ["job", "num_emitters", "background", "psf"]
    rows = [line.split() for line in lines if line.startswith("job_")]
    assert [r[0][:14] for r in rows] == [f"job_{i:04d}_r{i:04d}" for i in range(4)]
    for row in rows:
        assert row[1].isdigit() and 5 <= int(row[1]) <= 30
        assert len(row[2].replace(".", "").lstrip("0")) <= 6 and 5.0 <= float(row[2]) <= 200.0  # 6 significant digits
        assert row[3] in ("gaussian", "astigmatic")
    assert "total: 4 jobs" in out and not (tmp_path / "runs").exists()


def test_a_random_design_runs_and_opens_as_a_table(tmp_path):
    import xarray as xr
    import zarr

    import pipeline

    sweep = tmp_path / "sweep.toml"
    sweep.write_text(BASE + RANDOM.format(n=3, method="random") + '\n[variables]\n"camera.readout_noise" = [1.0, 2.0]\n')
    proc = run_module("run", sweep, "--output", tmp_path / "out", "--workers", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = pipeline.plan_sweep(pipeline.load_sweep(sweep))
    # the sweep.toml kept in the output is the same design
    kept = pipeline.plan_sweep(pipeline.load_sweep(tmp_path / "out" / "sweep.toml"))
    assert _ids(kept) == _ids(plan)

    table = pipeline.open_sweep(tmp_path / "out")
    assert isinstance(table, xr.Dataset)
    assert table["frames"].dims == ("job", "t", "y", "x") and table["frames"].shape == (6, 4, 16, 16)
    assert list(table["job"].values) == [j.name for j in plan.jobs]
    assert list(table["draw"].values) == [0, 0, 1, 1, 2, 2]
    for key in plan.varied_keys:
        name = key.rsplit(".", 1)[-1]
        assert list(table[name].values) == [j.varied[key] for j in plan.jobs], key
        assert table[name].dims == ("job",) and table[name].attrs["parameter"] == key
        assert table[name].attrs["role"] == ("drawn" if key in plan.random_keys else "varied")
    assert table["background"].attrs["units"] == "photon/pixel/frame"
    assert table.attrs["design"] == {"method": "random", "n": 3}
    assert pipeline.open_sweep(tmp_path / "out", stack=True).identical(table)
    frames = table["frames"].values
    for i, job in enumerate(plan.jobs):  # each row is its own job's movie
        stored = zarr.open_group(tmp_path / "out" / "sweep.zarr" / job.name, mode="r")
        np.testing.assert_array_equal(frames[i], stored["frames"][:])
    assert len({frames[i].tobytes() for i in range(6)}) == 6
    job = plan.jobs[3]
    stored = zarr.open_group(tmp_path / "out" / "sweep.zarr" / job.name, mode="r")
    # job.json and the group's attributes hold the full values and the draw
    info = json.loads((tmp_path / "out" / "jobs" / job.name / "job.json").read_text())
    assert info["varied"] == job.varied and stored.attrs["varied"] == job.varied
    assert info["draw"] == stored.attrs["draw"] == {"index": 1, "n": 3, "method": "random", "keys": list(plan.random_keys)}
    # one node per job on request
    assert len(pipeline.open_sweep(tmp_path / "out", stack=False).children) == 6
    # scored (against its own ground truth), a random design is a table too, not a mostly empty n^k grid
    scored = pipeline.score(tmp_path / "out", str(tmp_path / "out" / "jobs" / "{job}" / "localizations.csv"),
                            write=False, plots=False)
    assert scored.dataset["recall"].dims == ("job",) and scored.dataset.sizes["job"] == 6
    assert list(scored.dataset["background"].values) == [j.varied["camera.background"] for j in plan.jobs]


def test_a_parameter_named_like_the_tables_variables_keeps_its_path(tmp_path):
    import pipeline

    sweep = tmp_path / "sweep.toml"
    sweep.write_text(BASE + '[random]\nn = 2\n"camera.background" = { distribution = "uniform", low = 5.0, high = 9.0 }\n'
                     '[variables]\n"emitters.frames" = [4]\n')
    proc = run_module("run", sweep, "--output", tmp_path / "out", "--workers", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = pipeline.open_sweep(tmp_path / "out")
    assert list(table["emitters_frames"].values) == [4, 4]
    assert table["emitters_frames"].attrs["parameter"] == "emitters.frames"
    assert table["frames"].dims == ("job", "t", "y", "x") and "parameter" not in table["frames"].attrs


def test_a_changed_design_opens_without_the_groups_it_left(tmp_path):
    # a Latin hypercube of 2 draws, then of 3 (other strata: other jobs) into the same output
    import pipeline

    sweep = tmp_path / "sweep.toml"
    for n in (2, 3):
        sweep.write_text(BASE + RANDOM.format(n=n, method="lhs"))
        proc = run_module("run", sweep, "--output", tmp_path / "out", "--workers", 1)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = pipeline.plan_sweep(pipeline.load_sweep(sweep))
    kept = [p.name for p in (tmp_path / "out" / "sweep.zarr").iterdir() if p.is_dir()]
    assert len(kept) > 3  # the store keeps the first design's groups (for reuse)
    assert set(pipeline.open_sweep(tmp_path / "out", stack=False).children) == {j.name for j in plan.jobs}
    table = pipeline.open_sweep(tmp_path / "out")
    assert list(table["job"].values) == [j.name for j in plan.jobs]
    assert table.attrs["design"] == {"method": "lhs", "n": 3}


def test_a_random_design_of_different_shapes_opens_as_a_tree(tmp_path):
    import xarray as xr

    import pipeline

    sweep = tmp_path / "sweep.toml"
    sweep.write_text(BASE + '[random]\nn = 2\nmethod = "lhs"\n"emitters.frames" = { distribution = "uniform", low = 2, high = 3 }\n')
    proc = run_module("run", sweep, "--output", tmp_path / "out", "--workers", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with pytest.warns(UserWarning, match="different shapes"):
        tree = pipeline.open_sweep(tmp_path / "out")
    assert isinstance(tree, xr.DataTree)
    assert sorted(node["frames"].shape[0] for node in tree.children.values()) == [2, 3]  # LHS: each integer once
    with pytest.raises(ValueError, match="cannot stack jobs of different shapes"):
        pipeline.open_sweep(tmp_path / "out", stack=True)


def test_more_draws_refresh_the_reused_jobs_design_size_without_exporting_them_again(tmp_path):
    import h5py

    sweep, out = tmp_path / "sweep.toml", tmp_path / "out"
    for n in (2, 4):
        sweep.write_text(BASE + RANDOM.format(n=n, method="random"))
        proc = run_module("run", sweep, "--output", out, "--workers", 1)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        if n == 2:
            first = sorted(p.name for p in (out / "jobs").iterdir())
            tiffs = {name: (out / "jobs" / name / "simulation.ome.tiff").stat() for name in first}
    assert len(first) == 2 and len(list((out / "jobs").iterdir())) == 4
    for name in first:
        folder = out / "jobs" / name
        info = json.loads((folder / "job.json").read_text())
        with h5py.File(folder / "emitters.h5", "r") as f:
            h5_draw = json.loads(f.attrs["draw"])
        assert info["draw"]["n"] == h5_draw["n"] == 4, name
        tiff = (folder / "simulation.ome.tiff").stat()
        assert (tiff.st_ino, tiff.st_mtime_ns) == (tiffs[name].st_ino, tiffs[name].st_mtime_ns)  # not written again
    proc = run_module("verify", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
