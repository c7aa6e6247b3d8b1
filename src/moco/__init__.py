"""moco — Multi-agent Orchestration COre."""

__version__ = "0.1.0"
