"""The one exception type the CLI turns into a single-line message and a non-zero exit."""


class CompressError(Exception):
    """A problem with the user's input or environment, explained in one line; no traceback is shown."""
