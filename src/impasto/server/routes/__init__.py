"""HTTP route modules, one per resource; each exports `routes` and `setup(app)`."""
