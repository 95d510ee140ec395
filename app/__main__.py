"""`python -m app worker -l info` (Faust's CLI) and volspike's own commands."""

import agents  # noqa: F401  registers the agents and timers
import app.admin as _admin  # noqa: F401
import app.commands as _commands  # noqa: F401
import app.driftview as _driftview  # noqa: F401
import app.web as _web  # noqa: F401
from app.core import app as faust_app


def main() -> None:
    faust_app.main()


if __name__ == "__main__":
    main()
