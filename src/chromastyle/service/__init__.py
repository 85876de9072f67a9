"""Serving: the BentoML service (service.py) and packaging of the champion into a bento."""
