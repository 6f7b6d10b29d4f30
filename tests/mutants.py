"""Wiring mutants (run by hand, not by pytest): apply each one-line bug, run the tests named for it,
print KILLED (a test failed, as it must) or SURVIVED. The bugs are those an earlier review found the
suite blind to; each names the test that now catches it.

    python tests/mutants.py [NAME ...]        # from the repository root; restores every file
"""
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
MUTANTS = [
 ("zmap transposed", "pipeline/scene/__init__.py", "zmap.at(sample.emitters.x_nm / pixel_nm, sample.emitters.y_nm / pixel_nm)", "zmap.at(sample.emitters.y_nm / pixel_nm, sample.emitters.x_nm / pixel_nm)", "tests/test_wiring.py"),
 ("qe = 1.0", "pipeline/scene/camera.py", "shot_noise=cam.shot_noise, qe=cam.qe,", "shot_noise=cam.shot_noise, qe=1.0,", "tests/test_wiring.py"),
 ("psf ignores render.mode", "pipeline/scene/optics.py", "noll=noll, mode=render.mode,", "noll=noll, mode=\"direct\",", "tests/test_wiring.py"),
 ("psf ignores oversample", "pipeline/scene/optics.py", "oversample=render.oversample, **common)", "**common)", "tests/test_wiring.py"),
 ("default sigma", "pipeline/config/models.py", "return self.gaussian_sigma_nm or 0.21 * self.wavelength_nm / self.na", "return self.gaussian_sigma_nm or 0.22 * self.wavelength_nm / self.na", "tests/test_wiring.py"),
 ("--no-resume ignored", "pipeline/cli.py", "resume=not args.no_resume,", "resume=True,", "tests/test_flags.py::test_no_resume_recomputes_every_chunk"),
 ("verify skips truth", "pipeline/verification.py", "if not cache.truth_matches(entry):", "if False:", "tests/test_flags.py::test_verify_checks_the_ground_truth"),
 ("done without truth", "pipeline/run/preflight.py", "if not cache.truth_matches(entry):", "if False:", "tests/test_flags.py::test_a_chunk_without_its_truth_file_is_recomputed"),
 ("t_off = -inf", "pipeline/exports/truth.py", "    np.maximum.at(table[\"t_off\"], events.emitter, events.t_off)\n", "", "tests/test_wiring.py"),
 ("NGFF translation 0", "pipeline/store/groups.py", "\"translation\": [0.0, pixel_um / 2, pixel_um / 2]", "\"translation\": [0.0, 0.0, 0.0]", "tests/test_wiring.py"),
 ("chunk key hashes t1", "pipeline/store/cache.py", "f\"{fingerprint}:{t0}:{t1 - 1}\"", "f\"{fingerprint}:{t0}:{t1}\"", "tests/test_wiring.py"),
 ("half-pixel shift", "kernels/render.py", "patches = scene.psf.render(where[\"x_nm\"] / scene.pixel_size_nm,", "patches = scene.psf.render(where[\"x_nm\"] / scene.pixel_size_nm + 0.5,", "tests/test_wiring.py"),
 ("drift not applied", "kernels/render.py", "        truth[\"x_nm\"] += shift[:, 0]\n", "", "tests/test_samples.py"),
 ("labelling ignored", "pipeline/scene/sample.py", "sites, em.labelling_efficiency,", "sites, 1.0,", "tests/test_samples.py"),
 ("illumination ignored", "pipeline/scene/sample.py", "emitters.flux_photons * intensity)", "emitters.flux_photons)", "tests/test_realism.py"),
 ("background map ignored", "pipeline/scene/__init__.py", "background_map=background_photons_map(config, sample.key)", "background_map=None", "tests/test_realism.py"),
 ("source frames 1-based", "pipeline/inputs/truth_source.py", "        out[\"frame\"] -= 1  # ThunderSTORM counts frames from 1\n", "", "tests/test_rerender.py"),
]
only = sys.argv[1:]
results = []
for name, path, old, new, tests in MUTANTS:
    if only and name not in only: continue
    p = REPO / path
    src = p.read_text()
    if old is None:
        results.append((name, "manual")); continue
    assert src.count(old) == 1, (name, src.count(old))
    p.write_text(src.replace(old, new))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()], cwd=REPO, capture_output=True, text=True)
        failed = [l for l in r.stdout.splitlines() if l.startswith("FAILED")]
        results.append((name, "KILLED" if r.returncode else "SURVIVED", failed[:1]))
    finally:
        p.write_text(src)
for r in results: print(*r)
