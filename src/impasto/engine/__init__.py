"""Runs one validated prompt: scheduling, output cache, lazy inputs, lists, expansion, interrupt, events.

Torch-agnostic: nothing here imports torch; nodes bring their own.
"""
