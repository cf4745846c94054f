"""Where jobs execute: worker processes and their executors."""
