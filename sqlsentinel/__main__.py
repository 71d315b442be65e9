"""Allow ``python -m sqlsentinel``."""

from sqlsentinel.cli import run

if __name__ == "__main__":
    run()
