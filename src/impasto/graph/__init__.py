"""Prompts as typed graphs: validation, signatures and expansion, without importing node code."""
