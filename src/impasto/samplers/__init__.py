"""Sigma schedules, k-diffusion-style sampler functions and the CFG denoiser.

Samplers are plain functions over a denoiser `D(x, sigma) -> denoised` and a descending sigma tensor
(`sampling.SAMPLERS`, keyed by ComfyUI's `sampler_name`); schedules turn a step count into that tensor
(`schedules.SCHEDULERS`, keyed by ComfyUI's `scheduler`). Nothing here knows the UNet: `denoiser.EpsDenoiser`
adapts any eps-prediction function.
"""
