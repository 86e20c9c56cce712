"""``progress.csv`` of a training run that is killed (SIGKILL, no cleanup) holds whole lines only."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """
import sys
from ballast import PPO, BaseCallback
from ballast.logger import configure

class ManyKeys(BaseCallback):
    # Wide rows, and now and then a new column (the file is rewritten with a wider header).
    def _on_rollout_end(self):
        for i in range(60):
            self.logger.record(f"custom/a_rather_long_metric_name_{i}", 1.0 / (i + 1 + self.num_timesteps))
        if self.num_timesteps % 160 == 0:
            self.logger.record(f"custom/new_{self.num_timesteps}", 1.0)

    def _on_step(self):
        return True

model = PPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu",
            policy_kwargs={"net_arch": [8]})
model.set_logger(configure(sys.argv[1], ["csv"]))
model.learn(10_000_000, callback=ManyKeys())
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("delay", [0.0, 0.37])
def test_a_killed_run_leaves_progress_csv_with_whole_lines(tmp_path: Path, delay: float) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    csv_path = tmp_path / "logs" / "progress.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "logs")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        lines_seen = 0
        while time.monotonic() < deadline and process.poll() is None:
            lines_seen = csv_path.read_bytes().count(b"\n") if csv_path.exists() else 0
            # The header is widened when the row of step 160 (the 20th) is written: wait until it is on disk.
            if lines_seen >= 22:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    raw = csv_path.read_bytes()
    assert raw.endswith(b"\n"), f"a torn last line: {raw[-120:]!r}"
    lines = list(csv.reader(io.StringIO(raw.decode())))
    assert len(lines) >= max(lines_seen, 20)  # no line that was once on disk is lost
    assert all(len(line) == len(lines[0]) for line in lines), "a row with missing columns"
    assert any(name.startswith("custom/new_") for name in lines[0])  # the header was widened during the run
