"""The daemon's settings child validates with the daemon's own statuswatch, wherever the
daemon was started (a working directory holding another checkout used to win)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CODE = (
    "import sys, json; from pathlib import Path\n"
    "from statuswatch.settings_cache import load_aside\n"
    "def validate():\n"
    "    raise SystemExit('validated in the daemon itself')\n"
    "s = load_aside(Path(sys.argv[1]), {}, validate)\n"
    "print(json.dumps([s.timeout, 'pydantic' in sys.modules]))\n"
)


def test_a_checkout_in_the_working_directory_does_not_take_over_the_child(
    tmp_path: Path,
) -> None:
    other = tmp_path / "elsewhere" / "statuswatch"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise ImportError('the wrong checkout was imported')\n")
    (other / "settings_cache.py").write_text("raise ImportError('the wrong checkout')\n")
    config = tmp_path / "statuswatch.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\ntimeout = "5s"\n')
    # A script, as the `statuswatch` entry point is: the working directory is not on
    # sys.path, so the daemon itself imports the statuswatch of PYTHONPATH.
    script = tmp_path / "bin" / "daemon.py"
    script.parent.mkdir()
    script.write_text(CODE)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("STATUSWATCH_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(script), str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=other.parent,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [5.0, False]
