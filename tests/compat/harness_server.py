"""A server started the way ComfyUI's test harness starts ComfyUI, with the fixture pack from an extra-paths YAML."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server_process import ServerProcess

PACK_YAML = Path(__file__).resolve().parent.parent / "support" / "compat_pack" / "extra_model_paths.yaml"


class HarnessServer(ServerProcess):
    """`python -m impasto --output-directory D --listen 127.0.0.1 --port P --extra-model-paths-config Y --cpu ...`,
    in `base` as its working directory (no `--base-directory`, as the harness passes none)."""

    def start(self, timeout: float = 60.0) -> HarnessServer:
        self.base.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "impasto", "--output-directory", str(self.base / "output")]
        command += ["--listen", "127.0.0.1", "--port", str(self.port), "--extra-model-paths-config", str(PACK_YAML)]
        command += ["--cpu", *self.args]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.base)
        self.wait_ready(timeout)
        return self
