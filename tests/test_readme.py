"""The README stays true to the code where the code can say it."""

from __future__ import annotations

from conftest import REPO


def test_the_sweep_file_reference_is_the_schema():
    from pipeline.config.reference import keys_table

    assert keys_table() in (REPO / "README.md").read_text()


def test_the_set_up_commands_are_at_the_top():
    head = (REPO / "README.md").read_text().split("\n## ", 1)[0]
    assert 'pip install -e . && python -m pipeline run configs/sweep.toml' in head
    assert 'pip install -e ".[test]" && python -m pytest' in head
