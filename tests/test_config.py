"""Sweep file validation, legacy translation, job planning (issue: foundation)."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import REPO, TINY_SWEEP, run_module
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep


def _edit(old: str, new: str, text: str = TINY_SWEEP) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (sweep text, fragments the one-line message must contain)
BAD_SWEEPS = {
    "unknown key": (_edit("num_emitters = 40", "num_emiters = 40"),
                    ["unknown key 'emitters.num_emiters' in sweep.toml", "did you mean 'emitters.num_emitters'?"]),
    "unknown sweep key": (_edit("seed = 11", "sed = 11"), ["unknown key 'sweep.sed'", "'sweep.seed'"]),
    "unknown section": (TINY_SWEEP + "\n[base.camra]\nqe = 1.0\n", ["unknown key 'camra'", "'camera'"]),
    "section not a table": (_edit("[base.render]\nchunk_frames = 4", "[base]\nrender = 3"),
                            ["sweep.toml", "'render' must be a table of keys, got 3"]),
    "negative photons": (_edit("intensity_mu = 3000.0", "intensity_mu = -5.0"),
                         ["emitters.intensity_mu = -5.0", "greater than or equal to 0"]),
    "frames < 1": (_edit("frames = 12", "frames = 0"), ["emitters.frames = 0", "greater than or equal to 1"]),
    "frames wrong type": (_edit("frames = 12", 'frames = "ten"'), ["emitters.frames = 'ten'", "integer"]),
    "fractional frames": (_edit("frames = 12", "frames = 2.5"), ["emitters.frames = 2.5"]),
    "na >= index": (_edit('psf = "gaussian"', 'psf = "gaussian"\nna = 1.6'),
                    ["optics", "na = 1.6 must be smaller than immersion_index = 1.518"]),
    "chunk_frames < 1": (_edit("chunk_frames = 4", "chunk_frames = 0"), ["render.chunk_frames = 0"]),
    "roi < patch": (_edit("roi_size = 32", "roi_size = 8"), ["roi [8, 8] is smaller than the PSF patch", "9 pixels"]),
    "bad roi": (_edit("roi_size = 32", "roi = [0, 32]"), ["camera.roi[0] = 0", "allowed: integer 1 <= x <= 65536"]),
    "bit depth high": (_edit("roi_size = 32", "roi_size = 32\nbit_depth = 20"),
                       ["camera.bit_depth = 20", "less than or equal to 16"]),
    "bit depth low": (_edit("roi_size = 32", "roi_size = 32\nbit_depth = 4"), ["camera.bit_depth = 4"]),
    "unknown psf": (_edit('psf = "gaussian"', 'psf = "airy"'), ["optics.psf = 'airy'", "'gaussian'", "'vectorial'"]),
    "unknown camera": (_edit("roi_size = 32", 'roi_size = 32\ntype = "ccd"'), ["camera.type = 'ccd'", "'emccd'"]),
    "bleach_prob > 1": (_edit("intensity_mu = 3000.0", "intensity_mu = 3000.0\nbleach_prob = 1.5"),
                        ["emitters.bleach_prob = 1.5", "less than or equal to 1"]),
    "qe = 0": (_edit("roi_size = 32", "roi_size = 32\nqe = 0.0"), ["camera.qe = 0.0", "greater than 0"]),
    "noll 0": (_edit('psf = "gaussian"', 'psf = "gaussian"\nzernike = { 0 = 10.0 }'), ["optics.zernike key '0'", "allowed: integer 1 <= x <= 1000"]),
    "variable path": (_edit('"emitters.num_emitters" = [20, 40]', '"emitters.num_emiters" = [20, 40]'),
                      ["variables key 'emitters.num_emiters' is not a parameter of [base]", "did you mean 'emitters.num_emitters'?"]),
    "variable empty": (_edit("[20, 40]", "[]"), ["variables 'emitters.num_emitters' has an empty list of values"]),
    "variable bad value": (_edit("[20, 40]", "[20, -40]"),
                           ["emitters.num_emitters = -40", "greater than or equal to 0", "with emitters.num_emitters = -40"]),
    "zip unequal": (TINY_SWEEP + '\n[[zip]]\n"optics.na" = [1.3, 1.4]\n"optics.immersion_index" = [1.518]\n',
                    ["zip group 1 lists must have equal lengths", "'optics.na' has 2", "'optics.immersion_index' has 1"]),
    "variables and zip": (TINY_SWEEP + '\n[[zip]]\n"emitters.num_emitters" = [1, 2]\n"optics.na" = [1.3, 1.4]\n',
                          ["'emitters.num_emitters' is varied both in variables and in zip group 1"]),
    "samples naming": (TINY_SWEEP + '\n[samples]\nnum_samples = 2\nnaming = "s_{foo}"\n', ["samples.naming", "{sample_id}"]),
    "samples count": (TINY_SWEEP + "\n[samples]\nnum_samples = 0\n", ["samples.num_samples = 0"]),
    "toml syntax": (_edit("frames = 12", "frames = = 12"), ["sweep.toml: TOML syntax error", "at line 11, column 10"]),
    "memory limit syntax": (_edit("workers = 2", 'workers = 2\nmemory_limit = "lots"'), ["cluster.memory_limit = 'lots'"]),
    "duplicate jobs": (_edit("[20, 40]", "[20, 20]"),
                       ["jobs job_0000_num_emitters_20 and job_0001_num_emitters_20 are the same simulation"]),
    "only layout varied": (_edit('"emitters.num_emitters" = [20, 40]', '"render.chunk_frames" = [2, 4]'),
                           ["are the same simulation", "chunk_frames changes only the layout"]),
    "seed too large": (_edit("seed = 11", "seed = 99999999999999999999"), ["sweep.seed"]),
    "dashboard address": (_edit("workers = 2", 'workers = 2\ndashboard_address = "8787"'),
                          ["cluster.dashboard_address", "is not [host]:port"]),
    "scheduler address": (_edit("workers = 2", 'workers = 2\naddress = "localhost"'),
                          ["cluster.address", "is not a scheduler address"]),
    "chunk too large": (_edit("workers = 2", 'workers = 2\nmemory_limit = "100KiB"'),
                        ["needs about", "more than 90 %", "worker memory limit 100.0 KiB", "smaller render.chunk_frames"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SWEEPS))
def test_bad_sweep_refused_with_one_line(case, cli, write_sweep, tmp_path):
    text, fragments = BAD_SWEEPS[case]
    path = write_sweep(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli("plan", path)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_bad_command_lines(cli, write_sweep, tmp_path):
    path = write_sweep()
    for argv, fragment in [
        (("plan", tmp_path / "nope.toml"), "does not exist"),
        (("plan", path, "--jobs", "job_9*"), "--jobs 'job_9*' matches none of the 2 jobs"),
        (("plan", path, "--workers", "two"), "invalid int value: 'two'"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ]:
        code, out, err = cli(*argv)
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_legacy_errors(cli, tmp_path):
    data = json.loads((REPO / "configs/legacy_batch.json").read_text())
    data["base_config"]["emitters"]["num_emiters"] = 5
    (tmp_path / "bad.json").write_text(json.dumps(data))
    code, _, err = cli("plan", tmp_path / "bad.json")
    assert code == 2 and "unknown key 'emitters.num_emiters' in bad.json; did you mean 'emitters.num_emitters'?" in err
    (tmp_path / "syntax.json").write_text('{"max_workers": 4,\n "base_config": {,}}')
    code, _, err = cli("plan", tmp_path / "syntax.json")
    assert code == 2 and "JSON syntax error" in err and "line 2" in err


def test_subprocess_refusal_has_no_traceback(write_sweep, tmp_path):
    path = write_sweep(BAD_SWEEPS["unknown key"][0])
    proc = run_module("plan", path, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown key 'emitters.num_emiters' in sweep.toml; did you mean 'emitters.num_emitters'?"
    ]


def test_legacy_batch_plans_nine_jobs(cli):
    code, out, err = cli("plan", REPO / "configs/legacy_batch.json")
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines() if line.startswith("job_")]
    expected = [f"job_{i:04d}_num_emitters_{n}_background_{b}"
                for i, (n, b) in enumerate((n, b) for n in (500, 1000, 2000) for b in (50, 100, 200))]
    assert names == expected
    assert "does not exist" not in out  # the shipped file points at the example map beside it
    assert "ignored keys of the original tool: emitters.no_plot, memory_optimization.enable_gc" in out
    plan = plan_sweep(load_sweep(REPO / "configs/legacy_batch.json"))
    job = plan.jobs[4]
    assert job.config.camera.background == 100 and job.config.emitters.num_emitters == 1000
    assert job.config.render.chunk_frames == 10 and job.config.render.mode == "direct"
    assert plan.sweep.model.sweep.seed == 42 and plan.sweep.model.cluster.workers == 4
    assert job.config.optics.zmap_path == str(REPO / "configs" / "zmap_1200.h5")


def test_legacy_sample_configs(tmp_path):
    data = json.loads((REPO / "configs/legacy_batch.json").read_text())
    data["variables"] = {"emitters.num_emitters": [500, 1000]}
    data["sample_configs"] = {"num_samples": 3, "frames_per_sample": 20, "sample_naming": "sample_{:02d}"}
    (tmp_path / "b.json").write_text(json.dumps(data))
    plan = plan_sweep(load_sweep(tmp_path / "b.json"))
    assert [j.name for j in plan.jobs][:3] == [
        "job_0000_num_emitters_500_sample_01", "job_0001_num_emitters_500_sample_02", "job_0002_num_emitters_500_sample_03"]
    assert len(plan.jobs) == 6 and all(j.frames == 20 for j in plan.jobs)


def test_shipped_configs_plan(cli):
    for name in ("sweep.toml", "density_study.toml", "noise_study.toml", "intensity_study.toml", "samples.toml"):
        code, out, err = cli("plan", REPO / "configs" / name)
        assert code == 0, (name, err)
        assert "total:" in out
    assert len(plan_sweep(load_sweep(REPO / "configs/sweep.toml")).jobs) == 4


def test_product_zip_samples_counts_and_names(write_sweep):
    text = TINY_SWEEP.replace('"emitters.num_emitters" = [20, 40]',
                              '"emitters.num_emitters" = [20, 40]\n"camera.background" = [1.0, 2.5, 3.0]')
    text += '\n[[zip]]\n"optics.na" = [1.3, 1.4]\n"optics.immersion_index" = [1.5, 1.52]\n'
    text += '\n[samples]\nnum_samples = 2\nframes_per_sample = 8\n'
    plan = plan_sweep(load_sweep(write_sweep(text)))
    assert len(plan.jobs) == 2 * 3 * 2 * 2
    assert plan.jobs[0].name == "job_0000_num_emitters_20_background_1_na_1.3_immersion_index_1.5_sample_001"
    assert plan.jobs[3].name == "job_0003_num_emitters_20_background_1_na_1.4_immersion_index_1.52_sample_002"
    assert plan.jobs[-1].name == "job_0023_num_emitters_40_background_3_na_1.4_immersion_index_1.52_sample_002"
    assert plan.jobs[6].varied == {"emitters.num_emitters": 20, "camera.background": 2.5,
                                   "optics.na": 1.4, "optics.immersion_index": 1.52}
    assert plan.jobs[6].sample_id == 1 and plan.jobs[7].sample_id == 2  # numbered from 1, as the original tool
    assert all(j.frames == 8 for j in plan.jobs)
    assert len({j.fingerprint for j in plan.jobs}) == len(plan.jobs)
    assert len({j.seed_digest for j in plan.jobs}) == len(plan.jobs)
    assert len({j.name for j in plan.jobs}) == len(plan.jobs)


def test_job_names_are_safe_file_names(write_sweep):
    text = TINY_SWEEP.replace('"emitters.num_emitters" = [20, 40]', '"emitters.positions_file" = ["../a/b.csv", "c d.csv"]')
    plan = plan_sweep(load_sweep(write_sweep(text)))
    assert [j.name for j in plan.jobs] == ["job_0000_positions_file_b", "job_0001_positions_file_c-d"]
    for job in plan.jobs:
        assert "/" not in job.name and ".." not in job.name


def test_fingerprint_stable_under_key_order_and_location(tmp_path, write_sweep):
    reordered = """
    [variables]
    "emitters.num_emitters" = [20, 40]
    [base.render]
    chunk_frames = 4
    [base.camera]
    readout_noise = 2.0
    background = 10.0
    roi_size = 32
    [base.optics]
    psf_radius_px = 4
    psf = "gaussian"
    [base.emitters]
    intensity_sigma = 500.0
    intensity_mu = 3000.0
    area_px = 28.0
    frames = 12
    num_emitters = 40
    [cluster]
    workers = 1
    [sweep]
    seed = 11
    name = "other"
    """
    a = plan_sweep(load_sweep(write_sweep()))
    (tmp_path / "elsewhere").mkdir()
    b = plan_sweep(load_sweep(write_sweep(reordered, name="elsewhere/renamed.toml")))
    assert [j.fingerprint for j in a.jobs] == [j.fingerprint for j in b.jobs]
    assert [j.seed_digest for j in a.jobs] == [j.seed_digest for j in b.jobs]


def test_fingerprint_follows_input_file_content(tmp_path, write_sweep):
    (tmp_path / "pos.csv").write_text("x_nm,y_nm\n100,200\n")
    text = TINY_SWEEP.replace('area_px = 28.0', 'area_px = 28.0\npositions_file = "pos.csv"')
    first = plan_sweep(load_sweep(write_sweep(text))).jobs[0].fingerprint
    (tmp_path / "sub").mkdir()
    shutil.copy(tmp_path / "pos.csv", tmp_path / "sub" / "moved.csv")
    moved = plan_sweep(load_sweep(write_sweep(text.replace("pos.csv", "sub/moved.csv")))).jobs[0].fingerprint
    assert moved == first
    (tmp_path / "pos.csv").write_text("x_nm,y_nm\n100,201\n")
    assert plan_sweep(load_sweep(write_sweep(text))).jobs[0].fingerprint != first


PHYSICAL_CHANGES = [
    ("seed = 11", "seed = 12"),
    ("frames = 12", "frames = 13"),
    ("area_px = 28.0", "area_px = 27.0"),
    ("intensity_mu = 3000.0", "intensity_mu = 3001.0"),
    ('psf = "gaussian"', 'psf = "astigmatic"'),
    ("psf_radius_px = 4", "psf_radius_px = 5"),
    ("roi_size = 32", "roi_size = 33"),
    ("background = 10.0", "background = 10.5"),
    ("readout_noise = 2.0", "readout_noise = 2.1"),
    ("[base.render]", "[base.render]\nmode = \"oversampled\""),
]


@pytest.mark.parametrize("old,new", PHYSICAL_CHANGES)
def test_fingerprint_changed_by_any_parameter(old, new, write_sweep):
    base = plan_sweep(load_sweep(write_sweep())).jobs[0].fingerprint
    changed = plan_sweep(load_sweep(write_sweep(_edit(old, new)))).jobs[0].fingerprint
    assert changed != base


def test_fingerprint_ignores_chunking_workers_and_name(write_sweep):
    base = plan_sweep(load_sweep(write_sweep())).jobs[0].fingerprint
    for old, new in [("chunk_frames = 4", "chunk_frames = 5"), ("workers = 2", "workers = 1"),
                     ('name = "tiny"', 'name = "other"')]:
        assert plan_sweep(load_sweep(write_sweep(_edit(old, new)))).jobs[0].fingerprint == base


def test_same_job_same_seed_whatever_the_order(write_sweep):
    a = plan_sweep(load_sweep(write_sweep()))
    b = plan_sweep(load_sweep(write_sweep(_edit("[20, 40]", "[40, 30, 20]"))))
    by_value_a = {j.config.emitters.num_emitters: j for j in a.jobs}
    by_value_b = {j.config.emitters.num_emitters: j for j in b.jobs}
    for n in (20, 40):
        assert by_value_a[n].index != by_value_b[n].index or n == 20
        assert by_value_a[n].seed_digest == by_value_b[n].seed_digest
        assert by_value_a[n].fingerprint == by_value_b[n].fingerprint


def test_plan_writes_nothing_and_reports_sizes(cli, write_sweep, tmp_path):
    path = write_sweep()
    code, out, err = cli("plan", path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.toml"]
    assert "job_0000_num_emitters_20" in out and "job_0001_num_emitters_40" in out
    # 12 frames of 32x32 uint16 = 24 KiB per job; 3 chunks of 4 frames
    assert "total: 2 jobs, 24 frames, 6 chunks, 48.0 KiB uncompressed" in out


def test_missing_input_file_is_a_warning_for_plan(cli, write_sweep):
    path = write_sweep(TINY_SWEEP.replace('psf = "gaussian"', 'psf = "zernike"\nzmap_path = "nope.h5"'))
    code, out, err = cli("plan", path)
    assert code == 0, err
    assert "warning: input file" in out and "nope.h5 does not exist" in out


def test_legacy_batch_run_refuses_missing_zmap(cli, tmp_path):
    data = json.loads((REPO / "configs/legacy_batch.json").read_text())
    data["base_config"]["zmap_path"] = "/path/to/your/patches.h5"  # the original tool's placeholder
    (tmp_path / "batch.json").write_text(json.dumps(data))
    code, out, err = cli("run", tmp_path / "batch.json", "--output", tmp_path / "out")
    assert code == 2
    assert err.strip() == ("error: input file /path/to/your/patches.h5 does not exist "
                           "(needed by job_0000_num_emitters_500_background_50)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("*.[tj]*[lns]")))
def test_every_shipped_config_passes_the_run_preflight(name, tmp_path):
    """What `run` checks before writing anything (inputs included): the shipped examples run as shipped."""
    from pipeline.run.preflight import check_inputs

    plan = plan_sweep(load_sweep(REPO / "configs" / name))
    assert not [w for w in plan.warnings if "does not exist" in w]
    check_inputs(plan)


def test_the_original_tools_sample_configs_are_numbered_from_one(cli, tmp_path):
    data = json.loads((REPO / "configs/legacy_batch.json").read_text())
    data["variables"] = {}
    data["sample_configs"] = {"num_samples": 5, "frames_per_sample": 20, "sample_naming": "sample_{sample_id:03d}"}
    (tmp_path / "batch.json").write_text(json.dumps(data))
    code, out, err = cli("plan", tmp_path / "batch.json")
    names = [line.split()[0] for line in out.splitlines() if line.startswith("job_")]
    assert code == 0 and names == [f"job_{i:04d}_sample_{i + 1:03d}" for i in range(5)], out + err
    assert "sample_000" not in out


def test_units_of_the_varied_keys():
    from pipeline.config.reference import unit_of

    assert [unit_of(k) for k in ("camera.background", "optics.wavelength_nm", "emitters.z_range_um",
                                 "camera.frame_interval_ms", "emitters.num_emitters", "optics.na")] == \
        ["photon/pixel/frame", "nm", "um", "ms", "", ""]


def test_an_added_key_at_its_default_leaves_the_fingerprint_alone():
    from pydantic import BaseModel

    from pipeline.config.models import added_field
    from pipeline.plan.identity import _without_added_defaults

    class Section(BaseModel):
        old: float = 1.0
        new: str = added_field("off")

    class Config(BaseModel):
        section: Section = Section()

    assert _without_added_defaults({"section": {"old": 1.0, "new": "off"}}, Config) == {"section": {"old": 1.0}}
    assert _without_added_defaults({"section": {"old": 1.0, "new": "on"}}, Config) == {"section": {"old": 1.0, "new": "on"}}


@pytest.mark.parametrize("psf", ["gaussian", "astigmatic", "zernike", "vectorial"])
def test_a_psf_revision_re_keys_only_that_models_jobs(psf, write_sweep):
    # the fingerprint as it was before kernels.REVISIONS, recomputed from design §3's recipe
    import hashlib

    import numpy as np

    import kernels
    from pipeline.plan.identity import _without_added_defaults, physical_parameters

    job = plan_sweep(load_sweep(write_sweep(f'[base.optics]\npsf = "{psf}"\n'))).jobs[0]
    config = job.config
    seeded = {"physics": physical_parameters(config, {}), "sample_id": None}
    canon = lambda obj: json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)  # noqa: E731
    render = _without_added_defaults(config.render.model_dump(mode="json", exclude={"chunk_frames", "shard_frames"}),
                                     type(config.render))
    before = {"seed_digest": hashlib.sha256(canon(seeded).encode()).hexdigest(), "render": render,
              "sweep_seed": job.sweep_seed, "kernels": kernels.__version__,
              "numpy": ".".join(np.__version__.split(".")[:2])}
    unchanged = hashlib.sha256(canon(before).encode()).hexdigest()[:32]
    if f"psf:{psf}" in kernels.REVISIONS:
        assert job.fingerprint != unchanged
        revised = dict(before, revisions={f"psf:{psf}": kernels.REVISIONS[f"psf:{psf}"]})
        assert job.fingerprint == hashlib.sha256(canon(revised).encode()).hexdigest()[:32]
    else:
        assert job.fingerprint == unchanged


def test_the_crlb_revision_re_keys_only_jobs_whose_bounds_changed():
    from pipeline.config import JobConfig
    from pipeline.plan.identity import revisions_of

    def revisions(**background):
        config = JobConfig.model_validate({"optics": {"psf": "gaussian"}, "render": {"crlb": True},
                                           "background": background})
        return revisions_of(config)

    assert revisions() == {}
    assert "crlb:varying-background" in revisions(bleach_tau_frames=5.0)
    assert "crlb:varying-background" in revisions(fluctuation=0.1)
