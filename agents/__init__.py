"""The stream topology, one module per stage.

Importing this package registers every agent and timer on the Faust app.
"""

from agents import archive, quality, windows  # noqa: F401
