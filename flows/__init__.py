"""Prefect flows: one per DVC stage (thin: they call chromastyle library functions) + retrain."""
