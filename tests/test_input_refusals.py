"""Bad input never starts work: `run` refuses with exit 2, one line, nothing written (issue: reliability)."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from conftest import TINY_SWEEP
from pipeline.inputs import synth_zmap

ZERNIKE_FIELD = TINY_SWEEP.replace('psf = "gaussian"', 'psf = "zernike"\nzmap_path = "zmap.h5"')
MAPS = TINY_SWEEP.replace("roi_size = 32", 'roi_size = 32\nmaps_path = "maps.h5"')
POSITIONS = TINY_SWEEP.replace("area_px = 28.0", 'area_px = 28.0\npositions_file = "pos.csv"')
DENSITY = TINY_SWEEP.replace("area_px = 28.0", 'area_px = 28.0\nstructure = "density"\ndensity_file = "density.tif"')
SOURCE = TINY_SWEEP.replace("area_px = 28.0", 'area_px = 28.0\nsource = "truth.csv"')
TRUTH_HEADER = '"id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]"\n'
ILLUMINATION = TINY_SWEEP + '\n[base.illumination]\nprofile = "file"\nfile = "ill.tif"\n'


def _tiff(path, image):
    import tifffile

    tifffile.imwrite(path, np.asarray(image, dtype=np.float32), photometric="minisblack")  # (a 3-D array: pages)


def _good_zmap(path):
    synth_zmap(path, grid=(2, 2), modes=(5, 6), rms_nm=20.0, roi_shape=(32, 32))


def _edit_zmap(path, edit):
    _good_zmap(path)
    with h5py.File(path, "r+") as f:
        edit(f)


def _nan(f):
    data = f["zernike"][...]
    data[0, 0, 0] = np.nan
    f["zernike"][...] = data


def _maps(path, shape=(32, 32), nan=False):
    with h5py.File(path, "w") as f:
        f["offset"] = np.full(shape, 100.0)
        f["gain"] = np.full(shape, 0.5)
        variance = np.full(shape, 4.0)
        if nan:
            variance[3, 3] = np.nan
        f["variance"] = variance


# name -> (sweep text, writer of the input file in tmp_path (or None: missing), fragments of the message)
CASES = {
    "zmap missing": (ZERNIKE_FIELD, None, ["zmap.h5 does not exist"]),
    "zmap not hdf5": (ZERNIKE_FIELD, lambda p: p.write_text("not hdf5"), ["zmap.h5: found a file that is not HDF5"]),
    "zmap wrong dataset": (ZERNIKE_FIELD, lambda p: h5py.File(p, "w").create_dataset("coeffs", data=np.zeros((2, 2, 2))),
                           ["zmap.h5", "zernike"]),
    "zmap wrong shape": (ZERNIKE_FIELD, lambda p: _edit_zmap(p, lambda f: (f.__delitem__("zernike"),
                                                                            f.create_dataset("zernike", data=np.zeros((2, 2))))),
                         ["zmap.h5: found", "(2, 2)", "expected"]),
    "zmap nan": (ZERNIKE_FIELD, lambda p: _edit_zmap(p, _nan), ["zmap.h5: found 1 non-finite value(s) in dataset 'zernike'"]),
    "zmap units": (ZERNIKE_FIELD, lambda p: _edit_zmap(p, lambda f: f["zernike"].attrs.__setitem__("units", "furlongs")),
                   ["zmap.h5: found attr 'units' = 'furlongs'", "'nm' or 'waves'"]),
    "zmap grid vs roi": (ZERNIKE_FIELD, lambda p: synth_zmap(p, grid=(2, 2), modes=(5,), rms_nm=5.0, roi_shape=(64, 64)),
                         ["zmap.h5", "expected"]),
    "maps missing": (MAPS, None, ["maps.h5 does not exist"]),
    "maps wrong shape": (MAPS, lambda p: _maps(p, shape=(16, 32)), ["maps.h5", "(16, 32)", "(32, 32)"]),
    "maps nan": (MAPS, lambda p: _maps(p, nan=True), ["maps.h5", "variance"]),
    "maps not hdf5": (MAPS, lambda p: p.write_text("x"), ["maps.h5: found"]),
    "positions missing": (POSITIONS, None, ["pos.csv does not exist"]),
    "positions columns": (POSITIONS, lambda p: p.write_text("a,b\n1,2\n"), ["pos.csv", "x_nm"]),
    "positions nan": (POSITIONS, lambda p: p.write_text("x_nm,y_nm\n1,nan\n"), ["pos.csv"]),
    "density missing": (DENSITY, None, ["density.tif does not exist"]),
    "density not an image": (DENSITY, lambda p: p.write_text("x"), ["density.tif: found neither a TIFF nor a PNG"]),
    "density negative": (DENSITY, lambda p: _tiff(p, [[1.0, -1.0]]), ["density.tif: found negative, non-finite"]),
    "density all zero": (DENSITY, lambda p: _tiff(p, np.zeros((4, 4))), ["density.tif: found negative, non-finite or only zero"]),
    "density stack": (DENSITY, lambda p: _tiff(p, np.ones((2, 4, 4))), ["density.tif: found a TIFF of 2 pages"]),
    "illumination smaller than the roi": (ILLUMINATION, lambda p: _tiff(p, np.ones((32, 16))),
                                          ["illumination.file ", "ill.tif: an image of 32x16 px of 100 nm covers 1.6 x 3.2 um (x by y)",
                                           "the ROI 3.2 x 3.2 um"]),
    "illumination coarser than it says": (ILLUMINATION.replace('file = "ill.tif"', 'file = "ill.tif"\nfile_pixel_size_nm = 150.0'),
                                          lambda p: _tiff(p, np.ones((16, 16))), ["covers 2.4 x 2.4 um"]),
    "source missing": (SOURCE, None, ["truth.csv does not exist"]),
    "source unsorted": (SOURCE, lambda p: p.write_text(TRUTH_HEADER + "0,3,1,1,0,100\n1,2,1,1,0,100\n"),
                        ["truth.csv: found localizations not sorted by frame (line 3)"]),
    "source header": (SOURCE, lambda p: p.write_text('"frame","x [nm]"\n1,2\n'),
                      ["truth.csv: found a header without y_nm, photons"]),
    "source row": (SOURCE, lambda p: p.write_text(TRUTH_HEADER + "0,one,1,1,0,100\n"), ["truth.csv: found an unreadable line 2"]),
    "source too long": (SOURCE, lambda p: p.write_text(TRUTH_HEADER + "0,30,1,1,0,100\n"),
                        ["truth.csv has localizations up to frame 29 (0-based) but emitters.frames = 12",
                         "set emitters.frames >= 30"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_refuses_bad_input_file(case, cli, write_sweep, tmp_path):
    text, writer, fragments = CASES[case]
    path = write_sweep(text)
    name = {"zmap": "zmap.h5", "maps": "maps.h5", "positions": "pos.csv", "density": "density.tif",
            "source": "truth.csv", "illumination": "ill.tif"}[case.split()[0]]
    if writer is not None:
        result = writer(tmp_path / name)
        if isinstance(result, h5py.Dataset):
            result.file.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli("run", path, "--output", tmp_path / "out")
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_run_refuses_output_problems(cli, write_sweep, tmp_path):
    path = write_sweep()
    code, _, err = cli("run", path, "--output", tmp_path / "no" / "such" / "out")
    assert code == 2 and f"parent folder {tmp_path / 'no' / 'such'} does not exist" in err
    locked = tmp_path / "ro"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        # /proc refuses new files even to root; a read-only folder refuses them to everyone else
        target = locked / "out" if not os.access(locked, os.W_OK) else "/proc/smlm_out"
        code, _, err = cli("run", path, "--output", target)
        assert code == 2 and "is not writable" in err, err
    finally:
        os.chmod(locked, 0o700)
    (tmp_path / "file").write_text("x")
    code, _, err = cli("run", path, "--output", tmp_path / "file")
    assert code == 2 and "exists and is not a folder" in err


def test_run_refuses_too_little_disk(cli, write_sweep, tmp_path):
    huge = TINY_SWEEP.replace("frames = 12", "frames = 2000000").replace("roi_size = 32", "roi_size = 2048")
    code, _, err = cli("run", write_sweep(huge), "--output", tmp_path / "out")
    assert code == 2 and "the sweep needs up to" in err and "is free; use --force" in err
    assert not (tmp_path / "out").exists()


def test_run_refuses_chunk_too_large(cli, write_sweep, tmp_path):
    text = TINY_SWEEP.replace("workers = 2", 'workers = 2\nmemory_limit = "100KiB"')
    code, _, err = cli("run", write_sweep(text), "--output", tmp_path / "out")
    assert code == 2 and "more than 90 %" in err and "smaller render.chunk_frames" in err
    assert not (tmp_path / "out").exists()


def test_run_refuses_unsafe_string_values(cli, write_sweep, tmp_path):
    text = TINY_SWEEP.replace('"emitters.num_emitters" = [20, 40]', '"optics.psf" = ["gaussian", "../../etc"]')
    code, _, err = cli("run", write_sweep(text), "--output", tmp_path / "out")
    assert code == 2 and "optics.psf = '../../etc'" in err
    assert not (tmp_path / "out").exists()


def test_a_huge_positions_file_is_refused_with_the_memory_it_needs(tmp_path, cli):
    """10^7 rows (CSV): the estimate counts the reader, the scene and the chunk's patches, not only frames."""
    block = "1000.5,2000.25\n" * 100_000
    with open(tmp_path / "pos.csv", "w") as f:
        f.write("x_nm,y_nm\n")
        for _ in range(100):
            f.write(block)
    (tmp_path / "sweep.toml").write_text(POSITIONS.replace("workers = 2", 'workers = 2\nmemory_limit = "4GiB"'))
    code, out, err = cli("plan", tmp_path / "sweep.toml")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "per worker (scene" in err and "GiB" in err and "memory limit 4.0 GiB" in err


def test_memory_estimate_grows_with_the_emitters(write_sweep):
    from pipeline.config import load_sweep
    from pipeline.plan import plan_sweep

    small, large = plan_sweep(load_sweep(write_sweep(TINY_SWEEP.replace("[20, 40]", "[20, 2000000]")))).jobs
    assert large.scene_bytes > 2000000 * 64 and large.chunk_working_set > small.chunk_working_set + 10**8


def test_a_job_name_longer_than_a_file_name_is_refused(tmp_path, cli):
    text = TINY_SWEEP + '\n[samples]\nnum_samples = 2\nnaming = "s{sample_id}_' + "x" * 250 + '"\n'
    (tmp_path / "sweep.toml").write_text(text)
    for verb in ("plan", "run"):
        code, out, err = cli(verb, tmp_path / "sweep.toml", "--output", tmp_path / "out")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "bytes long; file names allow 243" in err, err
        assert not (tmp_path / "out").exists()


def test_an_illumination_image_that_covers_the_roi_at_its_own_pixel_size_is_taken(cli, write_sweep, tmp_path):
    path = write_sweep(ILLUMINATION.replace('file = "ill.tif"', 'file = "ill.tif"\nfile_pixel_size_nm = 200.0'))
    _tiff(tmp_path / "ill.tif", np.ones((16, 16)))  # 16 x 200 nm = the ROI's 32 x 100 nm
    code, out, err = cli("plan", path)
    assert code == 0, (out, err)
