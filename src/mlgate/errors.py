"""The exceptions a user can cause, each with a message written for the user and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell tool exits with when its reader goes away


class MlgateError(Exception):
    """Base of every error mlgate reports to the user; maps to exit code 2 (bad input)."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(MlgateError):
    """params.yaml, dvc.yaml or another config file is invalid."""


class DataValidationError(MlgateError):
    """The data does not meet the declared expectations."""


class ModelIntegrityError(MlgateError):
    """A model file is missing, tampered with, or contains an untrusted type."""


class MissingDependencyError(MlgateError):
    """An optional dependency (DVC, BentoML, a container engine) is not installed."""


class GitError(MlgateError):
    """A git or DVC revision cannot be read."""


class ClusterError(MlgateError):
    """The Dask scheduler cannot be reached, or refused the connection; maps to exit code 2."""


class RegistryError(MlgateError):
    """The registry file is broken or an operation on it is not allowed."""


class ServiceCheckError(MlgateError):
    """A running service did not become ready or answered a check wrongly; maps to exit code 1."""

    exit_code = EXIT_CHECK_FAILED


class ContainerError(MlgateError):
    """An image build, push or re-tag failed, or an image registry answered wrongly; maps to exit code 1."""

    exit_code = EXIT_CHECK_FAILED
