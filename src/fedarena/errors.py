"""User-facing errors: one line that names the field, file or line at fault."""


class FedarenaError(Exception):
    """Bad input from a user (a flag, a spec, a file). The CLI prints it as one line, exit 2."""


class DataError(FedarenaError):
    """A catalog file or folder that cannot be read as the documented format."""


class SpecError(FedarenaError):
    """A scenario, attack, defense or strategy specification that is invalid."""
