"""paydown: finds the hidden technical debt of machine-learning systems and turns it into a backlog."""

__version__ = "0.1.0"
