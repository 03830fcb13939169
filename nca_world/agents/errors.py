"""The one error family of nca-world: every refusal of user input is one of these."""


class NcaWorldError(Exception):
    """Base class: the command line prints these without a traceback (exit code 2)."""


class ModelFileError(NcaWorldError):
    """A model file is missing, foreign, corrupt or inconsistent."""


class WorldError(NcaWorldError):
    """A world was asked to do something impossible (bad position, unknown species, ...)."""


class ConfigError(NcaWorldError):
    """A configuration file (training config, scenario, sweep) is malformed."""


class ScenarioError(ConfigError):
    """A scenario or sweep file is malformed."""


class RecordingError(NcaWorldError):
    """A recording is missing, foreign, truncated or of a newer format."""
