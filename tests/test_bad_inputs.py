"""Every bad input is refused before anything is written (issue: nothing silently wrong).

One row per mistake: a short id, a snippet that overrides a small valid sweep (TOML; a JSON object
for the original tool's batch files; extra command-line flags), and a regex that the single line
on stderr must match (file, key, value, what is allowed). Every row runs in-process as ``plan``
and as ``run``, each with ``--output`` and with the default output (runs/ under the cwd): exit 2,
one line, no traceback, nothing written.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from conftest import TINY_SWEEP

#: a small valid batch file of the original tool (JSON)
LEGACY = {
    "max_workers": 2,
    "base_config": {
        "emitters": {"num_emitters": 20, "frames": 8, "area_px": 28.0, "seed": 3},
        "tiff": {"roi_size": 32, "use_direct_rendering": True, "add_noise": True,
                 "noise_params": {"background": 10, "readout_noise": 2, "shot_noise": True}},
        "memory_optimization": {"chunk_size": 4},
    },
    "variables": {"emitters.num_emitters": [20, 40]},
}

ALLOWED_SEGMENT = "expected a single folder name"

# (id, snippet, regex of the one stderr line); a snippet starting with "--" is command-line flags
CASES = [
    # [sweep]
    ("name-traversal", '[sweep]\nname = "../../escaped"', rf"sweep\.toml: sweep\.name = '\.\./\.\./escaped': {ALLOWED_SEGMENT}"),
    ("name-empty", '[sweep]\nname = ""', rf"sweep\.name = '': {ALLOWED_SEGMENT}"),
    ("name-dot", '[sweep]\nname = "."', rf"sweep\.name = '\.': {ALLOWED_SEGMENT}"),
    ("name-dotdot", '[sweep]\nname = ".."', rf"sweep\.name = '\.\.': {ALLOWED_SEGMENT}"),
    ("name-hidden", '[sweep]\nname = ".hidden"', rf"sweep\.name = '\.hidden': {ALLOWED_SEGMENT}.*not starting with '\.'"),
    ("name-slash", '[sweep]\nname = "a/b"', rf"sweep\.name = 'a/b': {ALLOWED_SEGMENT}"),
    ("name-backslash", '[sweep]\nname = "a\\\\b"', rf"sweep\.name = 'a\\\\b': {ALLOWED_SEGMENT}"),
    ("name-space", '[sweep]\nname = "my sweep"', rf"sweep\.name = 'my sweep': {ALLOWED_SEGMENT}.*A-Z a-z 0-9 \. _ \+ -"),
    ("name-too-long", f'[sweep]\nname = "{"x" * 101}"', rf"sweep\.name = 'x{{101}}': .*1 to 100 of the characters"),
    ("name-number", "[sweep]\nname = 5", r"sweep\.name = 5: Input should be a valid string"),
    ("seed-negative", "[sweep]\nseed = -1", r"sweep\.seed = -1: .*greater than or equal to 0; allowed: integer 0 <= x"),
    ("seed-fraction", "[sweep]\nseed = 1.5", r"sweep\.seed = 1\.5: Input should be a valid integer; allowed: integer"),
    ("seed-bool", "[sweep]\nseed = true", r"sweep\.seed = True: Input should be a valid integer"),
    ("seed-string", '[sweep]\nseed = "42"', r"sweep\.seed = '42': Input should be a valid integer"),
    ("output-number", "[sweep]\noutput = 3", r"sweep\.output = 3: Input should be a valid string"),
    ("sweep-unknown-key", "[sweep]\nsed = 1", r"unknown key 'sweep\.sed' in sweep\.toml; did you mean 'sweep\.seed'\?"),
    # [cluster]
    ("workers-zero", "[cluster]\nworkers = 0", r"sweep\.toml: cluster\.workers = 0: .*allowed: integer 1 <= x <= 4096"),
    ("workers-bool", "[cluster]\nworkers = true", r"cluster\.workers = True: Input should be a valid integer"),
    ("workers-string", '[cluster]\nworkers = "2"', r"cluster\.workers = '2': Input should be a valid integer"),
    ("workers-huge", "[cluster]\nworkers = 100000", r"cluster\.workers = 100000: .*less than or equal to 4096"),
    ("threads-zero", "[cluster]\nthreads_per_worker = 0", r"cluster\.threads_per_worker = 0: .*integer 1 <= x <= 1024"),
    ("memory-limit-text", '[cluster]\nmemory_limit = "lots"', r"sweep\.toml: cluster\.memory_limit = 'lots': not a positive size.*\"4GiB\""),
    ("memory-limit-negative", '[cluster]\nmemory_limit = "-1GB"', r"cluster\.memory_limit = '-1GB': not a positive size"),
    ("dashboard-no-port", '[cluster]\ndashboard_address = "8787"', r"sweep\.toml: cluster\.dashboard_address: '8787' is not \[host\]:port"),
    ("scheduler-address", '[cluster]\naddress = "localhost"', r"sweep\.toml: cluster\.address: 'localhost' is not a scheduler address"),
    # [base.emitters]
    ("num-emitters-1e12", "[base.emitters]\nnum_emitters = 1e12", r"emitters\.num_emitters = 1000000000000(\.0)?: .*allowed: integer 0 <= x <= 1e8"),
    ("num-emitters-10**12", "[base.emitters]\nnum_emitters = 1000000000000", r"emitters\.num_emitters = 1000000000000: .*<= 1e8"),
    ("num-emitters-negative", "[base.emitters]\nnum_emitters = -1", r"emitters\.num_emitters = -1: .*greater than or equal to 0"),
    ("frames-bool", "[base.emitters]\nframes = true", r"sweep\.toml: emitters\.frames = True: Input should be a valid integer; allowed: integer 1 <= x <= 1e8"),
    ("frames-string", '[base.emitters]\nframes = "12"', r"emitters\.frames = '12': Input should be a valid integer"),
    ("frames-fraction", "[base.emitters]\nframes = 2.5", r"emitters\.frames = 2\.5: Input should be a valid integer"),
    ("frames-inf", "[base.emitters]\nframes = inf", r"emitters\.frames = inf: Input should be a valid integer"),
    ("area-inf", "[base.emitters]\narea_px = inf", r"emitters\.area_px = inf: Input should be a finite number; allowed: number 0 < x <= 1e6"),
    ("area-nan", "[base.emitters]\narea_px = nan", r"emitters\.area_px = nan: Input should be a finite number"),
    ("area-zero", "[base.emitters]\narea_px = 0.0", r"emitters\.area_px = 0\.0: Input should be greater than 0"),
    ("intensity-inf", "[base.emitters]\nintensity_mu = inf", r"emitters\.intensity_mu = inf: .*finite.*0 <= x <= 1e9"),
    ("intensity-nan", "[base.emitters]\nintensity_mu = nan", r"emitters\.intensity_mu = nan: .*finite"),
    ("intensity-huge", "[base.emitters]\nintensity_mu = 1e10", r"emitters\.intensity_mu = 10000000000\.0: .*less than or equal to 1000000000"),
    ("intensity-string", '[base.emitters]\nintensity_mu = "3000"', r"emitters\.intensity_mu = '3000': Input should be a valid number"),
    ("intensity-sigma-negative", "[base.emitters]\nintensity_sigma = -1.0", r"emitters\.intensity_sigma = -1\.0: .*greater than or equal to 0"),
    ("lifetime-inf", "[base.emitters]\nlifetime_avg = inf", r"emitters\.lifetime_avg = inf: .*finite.*0 < x <= 1e8"),
    ("lifetime-zero", "[base.emitters]\nlifetime_avg = 0.0", r"emitters\.lifetime_avg = 0\.0: .*greater than 0"),
    ("z-range-inf", "[base.emitters]\nz_range_um = inf", r"emitters\.z_range_um = inf: .*finite.*0 <= x <= 1000"),
    ("z-range-huge", "[base.emitters]\nz_range_um = 5000.0", r"emitters\.z_range_um = 5000\.0: .*less than or equal to 1000"),
    ("off-time-nan", "[base.emitters]\noff_time_avg = nan", r"emitters\.off_time_avg = nan: .*finite"),
    ("bleach-nan", "[base.emitters]\nbleach_prob = nan", r"emitters\.bleach_prob = nan: .*finite.*0 <= x <= 1"),
    ("blinking-unknown", '[base.emitters]\nblinking = "always"', r"emitters\.blinking = 'always': Input should be 'single', 'markov', 'four-state' or 'paint'"),
    ("positions-number", "[base.emitters]\npositions_file = 3", r"emitters\.positions_file = 3: Input should be a valid string"),
    ("structure-unknown", '[base.emitters]\nstructure = "ring"', r"emitters\.structure = 'ring': Input should be 'uniform', 'grid', 'npc', 'filaments', 'density' or 'positions'"),
    ("structure-positions-no-file", '[base.emitters]\nstructure = "positions"', r'sweep\.toml: emitters: structure = "positions" needs positions_file'),
    ("structure-density-no-file", '[base.emitters]\nstructure = "density"', r'emitters: structure = "density" needs density_file'),
    ("structure-with-positions", '[base.emitters]\nstructure = "grid"\npositions_file = "p.csv"', r'emitters: positions_file is the structure "positions"; it cannot be combined with structure = "grid"'),
    ("structure-count-zero", "[base.emitters]\nstructure_count = 0", r"emitters\.structure_count = 0: .*greater than or equal to 1"),
    ("labelling-above-one", "[base.emitters]\nlabelling_efficiency = 1.5", r"emitters\.labelling_efficiency = 1\.5: .*less than or equal to 1"),
    ("fluorophores-fraction", "[base.emitters]\nfluorophores_per_label = 1.5", r"emitters: fluorophores_per_label = 1\.5 must be a whole number"),
    ("npc-tilt-high", "[base.emitters]\nnpc_tilt_deg = 120.0", r"emitters\.npc_tilt_deg = 120\.0: .*less than or equal to 90"),
    ("source-with-structure", '[base.emitters]\nsource = "t.csv"\nstructure = "npc"', r"emitters: source renders the file's localizations as they are"),
    ("drift-degree", "[base.drift]\nx_nm = [0, 1, 2, 3, 4, 5, 6, 7, 8]", r"drift\.x_nm = \[0, 1, 2, 3, 4, 5, 6, 7, 8\]: .*at most 8 items"),
    ("drift-walk-negative", "[base.drift]\nwalk_nm = -1.0", r"drift\.walk_nm = -1\.0: .*greater than or equal to 0"),
    ("drift-coefficient-text", '[base.drift]\ny_nm = ["a"]', r"drift\.y_nm\[0\] = 'a': Input should be a valid number"),
    ("drift-unknown-key", "[base.drift]\nwalk = 1.0", r"unknown key 'drift\.walk' in sweep\.toml; did you mean 'drift\.walk_nm'\?"),
    ("emitters-unknown-key", "[base.emitters]\nnum_emiters = 4", r"unknown key 'emitters\.num_emiters' in sweep\.toml; did you mean"),
    # [base.optics]
    ("wavelength-inf", "[base.optics]\nwavelength_nm = inf", r"sweep\.toml: optics\.wavelength_nm = inf: Input should be a finite number; allowed: number 200 <= x <= 2000"),
    ("wavelength-low", "[base.optics]\nwavelength_nm = 100.0", r"optics\.wavelength_nm = 100\.0: .*greater than or equal to 200"),
    ("wavelength-string", '[base.optics]\nwavelength_nm = "670"', r"optics\.wavelength_nm = '670': Input should be a valid number"),
    ("wavelength-bool", "[base.optics]\nwavelength_nm = true", r"optics\.wavelength_nm = True: Input should be a valid number"),
    ("sigma-inf", "[base.optics]\ngaussian_sigma_nm = inf", r"optics\.gaussian_sigma_nm = inf: .*finite.*0 <= x <= 10000"),
    ("na-zero", "[base.optics]\nna = 0.0", r"optics\.na = 0\.0: .*greater than 0; allowed: number 0 < x <= 1\.7"),
    ("na-high", "[base.optics]\nna = 1.8\nimmersion_index = 2.0", r"optics\.na = 1\.8: .*less than or equal to 1\.7"),
    ("na-above-index", "[base.optics]\nna = 1.6", r"optics: na = 1\.6 must be smaller than immersion_index = 1\.518"),
    ("immersion-high", "[base.optics]\nimmersion_index = 3.0", r"optics\.immersion_index = 3\.0: .*1 <= x <= 2\.5"),
    ("pixel-nan", "[base.optics]\npixel_size_nm = nan", r"optics\.pixel_size_nm = nan: .*finite.*0 < x <= 10000"),
    ("pixel-negative", "[base.optics]\npixel_size_nm = -100.0", r"optics\.pixel_size_nm = -100\.0: .*greater than 0"),
    ("astig-depth-zero", "[base.optics]\nastig_depth_nm = 0.0", r"optics\.astig_depth_nm = 0\.0: .*greater than 0"),
    ("zernike-inf", "[base.optics]\nzernike = { 6 = inf }", r"optics\.zernike\.6 = inf: .*finite number; allowed: number -10000 <= x <= 10000"),
    ("zernike-nan", "[base.optics]\nzernike = { 5 = nan }", r"optics\.zernike\.5 = nan: .*finite"),
    ("zernike-huge", "[base.optics]\nzernike = { 6 = 1e5 }", r"optics\.zernike\.6 = 100000\.0: .*less than or equal to 10000"),
    ("zernike-string", '[base.optics]\nzernike = { 6 = "70" }', r"optics\.zernike\.6 = '70': Input should be a valid number"),
    ("noll-zero", "[base.optics]\nzernike = { 0 = 10.0 }", r"optics\.zernike key '0': .*greater than or equal to 1; allowed: integer 1 <= x <= 1000"),
    ("noll-huge", "[base.optics]\nzernike = { 5000 = 10.0 }", r"optics\.zernike key '5000': .*less than or equal to 1000"),
    ("noll-text", "[base.optics]\nzernike = { astig = 10.0 }", r"optics\.zernike key 'astig': Input should be a valid integer"),
    ("zernike-not-table", "[base.optics]\nzernike = 5", r"optics\.zernike = 5: Input should be a valid dictionary"),
    ("psf-radius-fraction", "[base.optics]\npsf_radius_px = 4.5", r"optics\.psf_radius_px = 4\.5: Input should be a valid integer; allowed: integer 1 <= x <= 1000"),
    ("psf-unknown", '[base.optics]\npsf = "airy"', r"optics\.psf = 'airy': Input should be 'gaussian', 'astigmatic',? .*'zernike'"),
    # [base.camera]
    ("roi-size-string", '[base.camera]\nroi_size = "64"', r"sweep\.toml: camera\.roi_size = '64': Input should be a valid integer; allowed: integer 1 <= x <= 65536"),
    ("roi-size-huge", "[base.camera]\nroi_size = 100000", r"camera\.roi_size = 100000: .*less than or equal to 65536"),
    ("roi-item-bool", "[base.camera]\nroi = [32, true]", r"camera\.roi\[1\] = True: Input should be a valid integer; allowed: integer 1 <= x <= 65536"),
    ("roi-item-zero", "[base.camera]\nroi = [0, 32]", r"camera\.roi\[0\] = 0: .*greater than or equal to 1"),
    ("roi-one-side", "[base.camera]\nroi = [32]", r"camera\.roi = \[32\]: too few items; allowed: list of 2, each integer 1 <= x <= 65536"),
    ("roi-three-sides", "[base.camera]\nroi = [32, 32, 32]", r"camera\.roi = \[32, 32, 32\]: Tuple should have at most 2 items"),
    ("add-noise-string", '[base.camera]\nadd_noise = "no"', r"camera\.add_noise = 'no': Input should be a valid boolean; allowed: true or false"),
    ("add-noise-int", "[base.camera]\nadd_noise = 0", r"camera\.add_noise = 0: Input should be a valid boolean"),
    ("shot-noise-int", "[base.camera]\nshot_noise = 1", r"camera\.shot_noise = 1: Input should be a valid boolean"),
    ("background-inf", "[base.camera]\nbackground = inf", r"camera\.background = inf: .*finite.*0 <= x <= 1e6"),
    ("background-nan", "[base.camera]\nbackground = nan", r"camera\.background = nan: .*finite"),
    ("background-negative", "[base.camera]\nbackground = -1", r"camera\.background = -1: .*greater than or equal to 0"),
    ("qe-high", "[base.camera]\nqe = 1.5", r"camera\.qe = 1\.5: .*0 < x <= 1"),
    ("readout-inf", "[base.camera]\nreadout_noise = inf", r"camera\.readout_noise = inf: .*finite.*0 <= x <= 1000"),
    ("e-per-adu-inf", "[base.camera]\ne_per_adu = inf", r"camera\.e_per_adu = inf: .*finite"),
    ("e-per-adu-zero", "[base.camera]\ne_per_adu = 0.0", r"camera\.e_per_adu = 0\.0: .*greater than 0"),
    ("baseline-inf", "[base.camera]\nbaseline_adu = inf", r"camera\.baseline_adu = inf: .*finite.*0 <= x <= 65535"),
    ("baseline-high", "[base.camera]\nbaseline_adu = 70000.0", r"camera\.baseline_adu = 70000\.0: .*less than or equal to 65535"),
    ("em-gain-inf", "[base.camera]\nem_gain = inf", r"camera\.em_gain = inf: .*finite.*1 <= x <= 10000"),
    ("em-gain-huge", "[base.camera]\nem_gain = 1e5", r"camera\.em_gain = 100000\.0: .*less than or equal to 10000"),
    ("bit-depth-fraction", "[base.camera]\nbit_depth = 12.5", r"camera\.bit_depth = 12\.5: Input should be a valid integer; allowed: integer 8 <= x <= 16"),
    ("frame-interval-inf", "[base.camera]\nframe_interval_ms = inf", r"camera\.frame_interval_ms = inf: .*finite"),
    ("frame-interval-zero", "[base.camera]\nframe_interval_ms = 0.0", r"camera\.frame_interval_ms = 0\.0: .*greater than 0"),
    ("camera-type", '[base.camera]\ntype = "ccd"', r"camera\.type = 'ccd': Input should be 'ideal', 'scmos' or 'emccd'"),
    ("roi-below-patch", "[base.camera]\nroi_size = 8", r"sweep\.toml: .*roi \[8, 8\] is smaller than the PSF patch 2\*psf_radius_px\+1 = 9 pixels"),
    # [base.render]
    ("chunk-frames-zero", "[base.render]\nchunk_frames = 0", r"render\.chunk_frames = 0: .*greater than or equal to 1"),
    ("chunk-frames-bool", "[base.render]\nchunk_frames = true", r"render\.chunk_frames = True: Input should be a valid integer"),
    ("oversample-high", "[base.render]\noversample = 32", r"render\.oversample = 32: .*1 <= x <= 16"),
    ("render-mode", '[base.render]\nmode = "exact"', r"render\.mode = 'exact': Input should be 'direct' or 'oversampled'"),
    # [base] and sections
    ("section-not-table", "samples = 3", r"sweep\.toml: 'samples' must be a table of keys, got 3"),
    ("unknown-section", "[base.camra]\nqe = 1.0", r"unknown key 'camra' in sweep\.toml; did you mean 'camera'\?"),
    ("bom-then-bad-value", "\ufeff[base.emitters]\nframes = true", r"sweep\.toml: emitters\.frames = True: Input should be a valid integer"),
    # [variables]: values are validated per job; the message names the variable and its value
    ("variable-inf", '[variables]\n"camera.background" = [10.0, inf]',
     r"camera\.background = inf: Input should be a finite number; .*\(with .*camera\.background = inf\)"),
    ("variable-nan", '[variables]\n"emitters.area_px" = [nan]', r"emitters\.area_px = nan: .*finite.*\(with .*emitters\.area_px = nan\)"),
    ("variable-10**12", '[variables]\n"emitters.num_emitters" = [20, 1000000000000]',
     r"emitters\.num_emitters = 1000000000000: .*<= 1e8 \(with emitters\.num_emitters = 1000000000000\)"),
    ("variable-string", '[variables]\n"emitters.frames" = ["12"]', r"emitters\.frames = '12': Input should be a valid integer.*\(with .*emitters\.frames = '12'\)"),
    ("variable-bool-text", '[variables]\n"camera.add_noise" = ["no"]', r"camera\.add_noise = 'no': .*boolean.*\(with .*camera\.add_noise = 'no'\)"),
    ("variable-zernike-inf", '[variables]\n"optics.zernike" = [{ 6 = inf }]', r"optics\.zernike\.6 = inf: .*finite.*\(with .*optics\.zernike = \{'6': inf\}\)"),
    ("variable-empty", '[variables]\n"emitters.num_emitters" = []', r"sweep\.toml: variables 'emitters\.num_emitters' has an empty list of values"),
    ("variable-not-list", '[variables]\n"emitters.num_emitters" = 20', r"variables\.emitters\.num_emitters = 20: Input should be a valid list"),
    ("variable-unknown", '[variables]\n"emitters.num_emiters" = [1, 2]', r"variables key 'emitters\.num_emiters' is not a parameter of \[base\]"),
    # [[zip]]
    ("zip-inf", '[[zip]]\n"optics.na" = [1.3, inf]\n"optics.immersion_index" = [1.5, 1.52]',
     r"optics\.na = inf: .*finite.*\(with .*optics\.na = inf"),
    ("zip-unequal", '[[zip]]\n"optics.na" = [1.3, 1.4]\n"optics.immersion_index" = [1.518]',
     r"zip group 1 lists must have equal lengths: 'optics\.na' has 2, 'optics\.immersion_index' has 1"),
    ("zip-empty-list", '[[zip]]\n"optics.na" = []', r"zip group 1 'optics\.na' has an empty list of values"),
    ("zip-and-variables", '[[zip]]\n"emitters.num_emitters" = [1, 2]', r"'emitters\.num_emitters' is varied both in variables and in zip group 1"),
    ("zip-unknown", '[[zip]]\n"optics.numerical_aperture" = [1.3]', r"zip group 1 key 'optics\.numerical_aperture' is not a parameter"),
    # [samples]
    ("samples-zero", "[samples]\nnum_samples = 0", r"samples\.num_samples = 0: .*1 <= x <= 1e6"),
    ("samples-bool", "[samples]\nnum_samples = true", r"samples\.num_samples = True: Input should be a valid integer"),
    ("frames-per-sample-fraction", "[samples]\nframes_per_sample = 7.5", r"samples\.frames_per_sample = 7\.5: Input should be a valid integer"),
    ("frames-per-sample-huge", "[samples]\nframes_per_sample = 1e9", r"samples\.frames_per_sample = 1000000000(\.0)?: .*<= 1e8"),
    ("illumination-waist-tiny", '[base.illumination]\nprofile = "gaussian"\nwaist_nm = 1e-200',
     r"illumination\.waist_nm = 1e-200: Input should be greater than or equal to 1"),
    ("illumination-file-centre", '[base.illumination]\nprofile = "file"\nfile = "i.tif"\ncentre_nm = [0.0, 0.0]',
     r'profile = "file" has no centre .*remove centre_nm'),
    ("frames-per-sample-and-drawn-frames", '[samples]\nframes_per_sample = 8\n[random]\nn = 2\n"emitters.frames" = { distribution = "uniform", low = 10, high = 40 }',
     r"sweep\.toml: samples\.frames_per_sample = 8 would override emitters\.frames, which \[random\] varies"),
    ("frames-per-sample-and-zipped-frames", '[samples]\nframes_per_sample = 8\n[[zip]]\n"emitters.frames" = [10, 20]',
     r"sweep\.toml: samples\.frames_per_sample = 8 would override emitters\.frames, which zip group 1 varies"),
    ("naming-traversal", '[samples]\nnaming = "../s_{sample_id}"', r"samples\.naming: '\.\./s_\{sample_id\}' gives '\.\./s_1'; .*A-Z a-z 0-9 \. _ \+ -"),
    ("naming-empty", '[samples]\nnaming = ""', r"samples\.naming: '' gives ''; a sample suffix must be 1 or more"),
    ("naming-space", '[samples]\nnaming = "s {sample_id:>4}"', r"samples\.naming: .*gives 's    1'"),
    ("naming-field", '[samples]\nnaming = "s_{foo}"', r"samples\.naming: 's_\{foo\}' is not a format string using only \{sample_id\}"),
    ("samples-unknown-key", "[samples]\nsample_naming = \"x\"", r"unknown key 'samples\.sample_naming' in sweep\.toml"),
    # [random] (TINY_SWEEP varies emitters.num_emitters in [variables])
    ("random-unknown-key", '[random]\nn = 2\n"camera.backgrund" = { distribution = "uniform", low = 1.0, high = 2.0 }',
     r"sweep\.toml: random key 'camera\.backgrund' is not a parameter of \[base\]; did you mean 'camera\.background'\?"),
    ("random-undotted-key", '[random]\nn = 2\nbackground = { distribution = "uniform", low = 1.0, high = 2.0 }',
     r"unknown key 'random\.background' in sweep\.toml: .*dotted paths relative to \[base\]"),
    ("random-not-a-table", '[random]\nn = 2\n"camera.background" = 5', r"sweep\.toml: random\.camera\.background = 5: expected a table such as \{ distribution"),
    ("random-distribution-unknown", '[random]\nn = 2\n"camera.background" = { distribution = "gauss", low = 1.0, high = 2.0 }',
     r"sweep\.toml: random\.camera\.background\.distribution = 'gauss': Input should be 'uniform', 'log-uniform', 'normal' or 'choice'"),
    ("random-draw-unknown-key", '[random]\nn = 2\n"camera.background" = { distribution = "uniform", lo = 1.0, high = 2.0 }',
     r"unknown key 'lo' of random\.camera\.background in sweep\.toml; did you mean 'low'\?; allowed: distribution, low, high"),
    ("random-low-equals-high", '[random]\nn = 2\n"camera.background" = { distribution = "uniform", low = 5.0, high = 5.0 }',
     r"sweep\.toml: random\.camera\.background: low = 5\.0 must be smaller than high = 5\.0"),
    ("random-low-above-high", '[random]\nn = 2\n"camera.background" = { distribution = "log-uniform", low = 50.0, high = 5.0 }',
     r"random\.camera\.background: low = 50\.0 must be smaller than high = 5\.0"),
    ("random-log-uniform-zero", '[random]\nn = 2\n"camera.background" = { distribution = "log-uniform", low = 0.0, high = 5.0 }',
     r"random\.camera\.background: distribution \"log-uniform\" needs low > 0, got low = 0\.0"),
    ("random-missing-high", '[random]\nn = 2\n"camera.background" = { distribution = "uniform", low = 1.0 }',
     r"random\.camera\.background: distribution \"uniform\" needs high; it takes low and high"),
    ("random-key-of-another-distribution", '[random]\nn = 2\n"camera.background" = { distribution = "uniform", low = 1.0, high = 2.0, std = 1.0 }',
     r"random\.camera\.background: distribution \"uniform\" takes low and high, not std"),
    ("random-normal-std-zero", '[random]\nn = 2\n"camera.background" = { distribution = "normal", mean = 10.0, std = 0.0 }',
     r"random\.camera\.background\.std = 0\.0: Input should be greater than 0"),
    ("random-normal-far-tail", '[random]\nn = 2\n"camera.background" = { distribution = "normal", mean = 0.0, std = 1.0, low = 50.0 }',
     r"random camera\.background: a normal of mean 0\.0 and std 1\.0 holds 0 of its probability in \[low, high\] = \[50\.0, inf\]"),
    ("random-normal-draw-out-of-range", '[random]\nn = 8\n"camera.background" = { distribution = "normal", mean = 0.0, std = 1.0 }',
     r"camera\.background = -[0-9.e-]+: Input should be greater than or equal to 0; .*\(with random draw \d+: camera\.background = "),
    ("random-range-outside-key", '[random]\nn = 2\n"camera.background" = { distribution = "uniform", low = -5.0, high = 10.0 }',
     r"sweep\.toml: random camera\.background low = -5\.0: Input should be greater than or equal to 0; allowed: number 0 <= x <= 1e6"),
    ("random-high-inf", '[random]\nn = 2\n"camera.background" = { distribution = "uniform", low = 1.0, high = inf }',
     r"random\.camera\.background\.high = inf: Input should be a finite number"),
    ("random-choice-wrong-type", '[random]\nn = 2\n"camera.background" = { distribution = "choice", values = [10.0, "high"] }',
     r"sweep\.toml: random camera\.background value = 'high': Input should be a valid number; allowed: number 0 <= x <= 1e6"),
    ("random-choice-bad-literal", '[random]\nn = 2\n"optics.psf" = { distribution = "choice", values = ["gaussian", "airy"] }',
     r"random optics\.psf value = 'airy': Input should be 'gaussian', 'astigmatic', 'zernike', 'spline' or 'vectorial'"),
    ("random-choice-empty", '[random]\nn = 2\n"camera.background" = { distribution = "choice", values = [] }',
     r"random\.camera\.background\.values = \[\]: List should have at least 1 item"),
    ("random-uniform-of-a-string-key", '[random]\nn = 2\n"optics.psf" = { distribution = "uniform", low = 1.0, high = 2.0 }',
     r"random optics\.psf: distribution \"uniform\" needs a numeric key, and optics\.psf is \"gaussian\" or .*use distribution = \"choice\""),
    ("random-integer-key-fraction", '[random]\nn = 2\n"emitters.frames" = { distribution = "uniform", low = 4.5, high = 10 }',
     r"random emitters\.frames low = 4\.5: emitters\.frames is an integer key, so low and high must be integers"),
    ("random-integer-key-too-high", '[random]\nn = 2\n"emitters.frames" = { distribution = "log-uniform", low = 1, high = 1e9 }',
     r"random emitters\.frames high = 1000000000: Input should be less than or equal to 100000000; allowed: integer 1 <= x <= 1e8"),
    ("random-and-variables", '[random]\nn = 2\n"emitters.num_emitters" = { distribution = "uniform", low = 1, high = 10 }',
     r"sweep\.toml: 'emitters\.num_emitters' is varied both in random and in variables"),
    ("random-no-parameter", "[random]\nn = 2", r"sweep\.toml: \[random\] names no parameter"),
    ("random-n-zero", '[random]\nn = 0\n"camera.background" = { distribution = "uniform", low = 1.0, high = 2.0 }',
     r"sweep\.toml: random\.n = 0: Input should be greater than or equal to 1; allowed: integer 1 <= x <= 1e6"),
    ("random-n-fraction", '[random]\nn = 2.5\n"camera.background" = { distribution = "uniform", low = 1.0, high = 2.0 }',
     r"random\.n = 2\.5: Input should be a valid integer"),
    ("random-n-missing", '[random]\n"camera.background" = { distribution = "uniform", low = 1.0, high = 2.0 }',
     r"sweep\.toml: random\.n is required; allowed: integer 1 <= x <= 1e6"),
    ("random-method-unknown", '[random]\nn = 2\nmethod = "sobol"\n"camera.background" = { distribution = "uniform", low = 1.0, high = 2.0 }',
     r"sweep\.toml: random\.method = 'sobol': Input should be 'random' or 'lhs'"),
    # the original tool's JSON batch files
    ("legacy-section-null", '{"base_config": {"tiff": null}}', r"^error: batch\.json: tiff = null: expected an object \{\.\.\.\}$"),
    ("legacy-subsection-number", '{"base_config": {"tiff": {"noise_params": 5}}}', r"batch\.json: tiff\.noise_params = 5: expected an object"),
    ("legacy-section-list", '{"base_config": {"emitters": []}}', r"batch\.json: emitters = \[\]: expected an object"),
    ("legacy-base-null", '{"base_config": null}', r"batch\.json: base_config = null: expected an object"),
    ("legacy-variables-null", '{"variables": null}', r"batch\.json: variables = null: expected an object"),
    ("legacy-samples-number", '{"sample_configs": 5}', r"batch\.json: sample_configs = 5: expected an object"),
    ("legacy-value-object", '{"base_config": {"emitters": {"frames": {}}}}', r"batch\.json: emitters\.frames = \{\}: Input should be a valid integer"),
    ("legacy-direct-text", '{"base_config": {"tiff": {"use_direct_rendering": "no"}}}',
     r'batch\.json: tiff\.use_direct_rendering = "no": expected true or false'),
    ("legacy-background-inf", '{"base_config": {"tiff": {"noise_params": {"background": Infinity}}}}',
     r"batch\.json: camera\.background = inf: .*finite"),
    ("legacy-readout-nan", '{"base_config": {"tiff": {"noise_params": {"readout_noise": NaN}}}}', r"batch\.json: camera\.readout_noise = nan: .*finite"),
    ("legacy-roi-string", '{"base_config": {"tiff": {"roi_size": "64"}}}', r"batch\.json: camera\.roi_size = '64': Input should be a valid integer"),
    ("legacy-add-noise-text", '{"base_config": {"tiff": {"add_noise": "no"}}}', r"batch\.json: camera\.add_noise = 'no': .*boolean"),
    ("legacy-workers-string", '{"max_workers": "4"}', r"batch\.json: cluster\.workers = '4': Input should be a valid integer"),
    ("legacy-frames-1e12", '{"base_config": {"emitters": {"frames": 1e12}}}', r"batch\.json: emitters\.frames = 1000000000000(\.0)?: .*<= 1e8"),
    ("legacy-zernike-null", '{"base_config": {"zernike": null}}', r"batch\.json: optics\.zernike = None: Input should be a valid dictionary"),
    ("legacy-variable-inf", '{"variables": {"tiff.noise_params.background": [10, Infinity]}}',
     r"batch\.json: camera\.background = inf: .*\(with .*camera\.background = inf\)"),
    ("legacy-variable-not-list", '{"variables": {"emitters.frames": 12}}', r"batch\.json: variables\.emitters\.frames = 12: expected a list of values"),
    ("legacy-unknown-key", '{"base_config": {"tiff": {"roi_sze": 32}}}', r"unknown key 'tiff\.roi_sze' in batch\.json; did you mean 'tiff\.roi_size'\?"),
    ("legacy-naming-unsafe", '{"sample_configs": {"num_samples": 2, "sample_naming": "a/{:02d}"}}', r"batch\.json: samples\.naming: .*gives 'a/01'"),
    # command-line flags (for plan, --scheduler is itself an unknown flag: refused as well)
    ("flag-workers-zero", "--workers 0", r"--workers 0: must be >= 1"),
    ("flag-workers-negative", "--workers -2", r"--workers -2: must be >= 1"),
    ("flag-workers-text", "--workers abc", r"argument --workers: invalid int value: 'abc'"),
    ("flag-workers-fraction", "--workers 2.5", r"argument --workers: invalid int value: '2\.5'"),
    ("flag-jobs-no-match", "--jobs nomatch*", r"--jobs 'nomatch\*' matches none of the 2 jobs of sweep\.toml"),
    ("flag-unknown", "--frobnicate", r"unrecognized arguments: --frobnicate"),
    ("flag-output-missing-parent", "--output {tmp}/no/such/out", r"--output .*/no/such/out: parent folder .*/no/such does not exist"),
    ("flag-scheduler", "--scheduler localhost", r"--scheduler.*localhost"),
]


def _merge_toml(snippet: str, base: str = TINY_SWEEP) -> str:
    """``base`` with every ``key = value`` line of ``snippet`` set in its ``[section]`` (replaced or added)."""
    sections: dict[str, list[str]] = {"": []}
    header = ""
    for line in base.strip().splitlines():
        if line.startswith("["):
            header = line
            sections[header] = []
        elif line.strip():
            sections[header].append(line)
    bom, header = snippet.startswith("\ufeff"), ""  # lines before any [section] are top-level keys
    for line in snippet.lstrip("\ufeff").splitlines():
        if line.startswith("[["):  # an array of tables: always a new one
            header = f"{line}#{len(sections)}"
            sections[header] = []
        elif line.startswith("["):
            header = line
            sections.setdefault(header, [])
        else:
            key = line.split("=", 1)[0].strip()
            lines = sections[header]
            same = [i for i, old in enumerate(lines) if old.split("=", 1)[0].strip() == key]
            if same:
                lines[same[0]] = line
            else:
                lines.append(line)
    text = "\n\n".join("\n".join([h.split("#")[0], *lines] if h else lines) for h, lines in sections.items())
    return ("\ufeff" if bom else "") + text + "\n"


def _merge_json(snippet: dict, base: dict = LEGACY) -> dict:
    """``base`` with ``snippet`` merged in (objects merge key by key, anything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in snippet.items():
        both_objects = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge_json(value, merged[key]) if both_objects else value
    return merged


def _write_case(snippet: str, tmp_path):
    """The sweep file of a row and the extra command-line flags."""
    if snippet.startswith("{"):
        path = tmp_path / "batch.json"
        path.write_text(json.dumps(_merge_json(json.loads(snippet))), encoding="utf-8")
        return path, []
    path = tmp_path / "sweep.toml"
    if snippet.startswith("--"):
        path.write_text(_merge_toml(""), encoding="utf-8")
        return path, snippet.format(tmp=tmp_path).split()
    path.write_text(_merge_toml(snippet), encoding="utf-8")
    return path, []


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_table_is_large_and_ids_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("snippet", ["", '{"description": "valid"}'], ids=["toml", "json"])
def test_base_sweeps_are_valid(snippet, cli, tmp_path):
    """The rows' failures come from their snippets: the bases themselves plan fine."""
    path, flags = _write_case(snippet, tmp_path)
    code, out, err = cli("plan", path, *flags)
    assert code == 0, err
    assert "total: 2 jobs" in out


@pytest.mark.parametrize("case_id,snippet,expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_refused(case_id, snippet, expected, cli, tmp_path):
    path, flags = _write_case(snippet, tmp_path)
    before, around = _tree(tmp_path), sorted(p.name for p in tmp_path.parent.iterdir())
    for command in ("plan", "run"):
        outputs = [[]] if "--output" in flags else [["--output", tmp_path / "out"], []]
        for output in outputs:
            argv = (command, path, *flags, *output)
            code, out, err = cli(*argv)
            lines = err.strip().splitlines()
            assert code == 2, (argv, out, err)
            assert len(lines) == 1 and lines[0].strip(), (argv, err)
            assert re.search(expected, lines[0]), (argv, expected, lines[0])
            assert "Traceback" not in out + err, (argv, out, err)
            # nothing written: not --output, not runs/ under the cwd, not outside it (name = "../../x")
            assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists(), argv
            assert _tree(tmp_path) == before, argv
            assert sorted(p.name for p in tmp_path.parent.iterdir()) == around, argv


@pytest.mark.parametrize("name", ["..toml", "...toml"])
def test_file_stem_that_is_not_a_folder_name_needs_sweep_name(name, cli, tmp_path):
    """Without sweep.name the default output is runs/<stem>: a stem "." or ".." would escape runs/."""
    path = tmp_path / name
    path.write_text(TINY_SWEEP.replace('name = "tiny"\n', ""))
    before = _tree(tmp_path)
    for command in ("plan", "run"):
        code, out, err = cli(command, path)
        assert code == 2 and err.strip() == f"error: {name}: the file name gives no usable sweep name; set sweep.name"
        assert _tree(tmp_path) == before


@pytest.mark.parametrize("name", ["sweep.toml", "batch.json"])
def test_byte_order_mark_is_accepted(name, tmp_path):
    """A UTF-8 BOM (Windows editors write one) changes nothing: same jobs, same fingerprints."""
    from pipeline.config import load_sweep
    from pipeline.plan import plan_sweep

    text = _merge_toml("") if name.endswith(".toml") else json.dumps(LEGACY)
    plain = tmp_path / f"plain_{name}"
    plain.write_text(text, encoding="utf-8")
    marked = tmp_path / name
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    jobs = [[(j.name, j.fingerprint) for j in plan_sweep(load_sweep(p)).jobs] for p in (plain, marked)]
    assert jobs[0] == jobs[1] and len(jobs[0]) == 2


def test_int_for_float_field_keeps_fingerprint(write_sweep):
    """`background = 10` (TOML int) is 10.0: the job, its dump and its fingerprint are unchanged."""
    from pipeline.config import load_sweep
    from pipeline.plan import plan_sweep

    as_float = plan_sweep(load_sweep(write_sweep(_merge_toml(""))))
    as_int = plan_sweep(load_sweep(write_sweep(_merge_toml("[base.camera]\nbackground = 10\nreadout_noise = 2"))))
    assert [j.fingerprint for j in as_int.jobs] == [j.fingerprint for j in as_float.jobs]
    assert as_int.jobs[0].config.model_dump()["camera"]["background"] == 10.0
    assert isinstance(as_int.jobs[0].config.camera.background, float)
    # a float without fraction for an integer key is that integer (TOML writes 1e3 as a float)
    as_float_count = plan_sweep(load_sweep(write_sweep(_merge_toml("[base.emitters]\nframes = 12.0"))))
    assert as_float_count.jobs[0].config.emitters.frames == 12
    assert [j.fingerprint for j in as_float_count.jobs] == [j.fingerprint for j in as_float.jobs]


def test_keys_table_lists_every_key_with_its_range():
    from pipeline.config import SweepFile, leaf_keys
    from pipeline.config.reference import keys_table

    table = keys_table()
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines()[2:]}
    assert sorted(rows) == sorted(leaf_keys(SweepFile))
    assert "number 200 <= x <= 2000" in rows["base.optics.wavelength_nm"]
    assert "integer 0 <= x <= 1e8" in rows["base.emitters.num_emitters"]
    assert "`670.0`" in rows["base.optics.wavelength_nm"]
    assert "true or false" in rows["base.camera.add_noise"]
    assert "single folder name" in rows["sweep.name"]
