"""mlgate: CI-native MLOps with DVC, CML and BentoML, all config-as-code."""

__version__ = "0.1.0"
