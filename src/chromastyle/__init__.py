"""chromastyle: grayscale photo -> colour photo, optionally repainted in an artwork's style."""

__version__ = "0.1.0"
