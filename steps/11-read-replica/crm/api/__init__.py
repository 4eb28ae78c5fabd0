"""HTTP: schemas in and out, controllers, errors. The only layer that knows requests."""
