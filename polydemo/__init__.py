"""polydemo: a real polyglot-persistence stack with CDC, scripted scenarios and a live dashboard."""

__version__ = "0.1.0"
