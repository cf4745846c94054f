"""Pure-torch Stable Diffusion 1.x: the UNet, the KL autoencoder and the CLIP text encoder, with checkpoint
loading that detects the architecture from state-dict shapes. Module attributes mirror the original (LDM)
checkpoint keys, so a stock checkpoint's state dict loads as it is."""
