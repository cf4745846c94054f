"""Live previews for KSampler: the current estimate as a small JPEG, throttled, sent with the step's progress.

The latent -> RGB map is fitted to the checkpoint's decoder the first time a preview is needed
(`impasto.models.preview`), so it costs nothing for jobs that never sample. At most one preview every
`INTERVAL` seconds is encoded, and always one at the last step.
"""

from __future__ import annotations

import io
import threading
import time
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    import torch

    from impasto.models.preview import LatentProjection
    from impasto.models.vae import AutoencoderKL
    from impasto.samplers.sampling import Step

INTERVAL = 0.25  # seconds between previews
Preview = tuple[str, bytes, int | None]  # (format, encoded image, max edge), as RunScope.report_progress takes


class LatentPreviewer:
    """Latent -> JPEG for one checkpoint's latent space; fits its projection once, on first use."""

    def __init__(self, vae: AutoencoderKL) -> None:
        self._vae = vae
        self._projection: LatentProjection | None = None
        self._lock = threading.Lock()

    def projection(self) -> LatentProjection:
        with self._lock:
            if self._projection is None:
                from impasto.models.preview import fit_projection

                self._projection = fit_projection(self._vae)
            return self._projection

    def jpeg(self, latent: torch.Tensor) -> bytes:
        """(C, h, w) latent in the autoencoder's units -> JPEG bytes of an h x w image."""
        pixels = self.projection().to_rgb(latent).numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="RGB").save(buffer, format="JPEG", quality=90)
        return buffer.getvalue()


class PreviewThrottle:
    """Decides per step whether to send a preview, and makes it."""

    def __init__(self, previewer: LatentPreviewer, latent_scale: float) -> None:
        self.previewer = previewer
        self.latent_scale = latent_scale
        self.last = float("-inf")

    def frame(self, step: Step) -> Preview | None:
        now = time.monotonic()
        if now - self.last < INTERVAL and step.index != step.total - 1:
            return None
        self.last = now
        # The first image of the batch, from the model's scaled latent back to the autoencoder's units.
        return ("JPEG", self.previewer.jpeg(step.denoised[0] / self.latent_scale), None)
