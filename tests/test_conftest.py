"""The test set-up itself: without the data, the tests that need it fail and say what to set, the rest still run."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_without_data_the_tests_that_read_it_fail_naming_compress_data_dir_and_the_rest_pass(tmp_path):
    selected = ["tests/compress/test_config.py::test_from_mapping_builds_the_dataclass",
                "tests/compress/test_batching.py::test_unshuffled_ungrouped_batches_keep_row_order",
                "tests/compress/test_training.py::test_train_stops_at_max_steps_and_changes_the_weights"]
    env = {**os.environ, "COMPRESS_DATA_DIR": str(tmp_path / "no-data-here")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *selected], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "2 passed, 1 error" in run.stdout.splitlines()[-1], "a test without its data errors, it is not skipped"
    (failure,) = [line for line in run.stdout.splitlines() if line.startswith(("ERROR", "FAILED"))]
    assert "test_train_stops_at_max_steps" in failure
    assert "real SST-2 data not found" in run.stdout and "set COMPRESS_DATA_DIR" in run.stdout
