"""c4actors: a real-time, multi-user Connect Four server built from Trio actors."""

__version__ = "0.1.0"
