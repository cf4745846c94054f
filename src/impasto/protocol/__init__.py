"""ComfyUI's wire format: every name and shape a ComfyUI client sees is defined once here."""
