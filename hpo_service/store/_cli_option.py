"""The ``--db URL`` option that ``hpo-driver`` and ``hpo-worker`` share, and opening it.

Kept with the store so that a worker does not import the driver.
"""

from __future__ import annotations

import click

from hpo_service.exceptions import StoreConnectionError, StoreError
from hpo_service.store import BaseTrialStore, open_store

DEFAULT_DB = "sqlite:///hpo.sqlite"

db_option = click.option(
    "--db",
    "db_url",
    envvar="HPO_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="Trials store URL: sqlite:///path, mongodb://..., hyperopt's "
    "mongo://host:port/db/jobs, mongomock://name (or env HPO_DB).",
)


def open_store_for_cli(db_url: str) -> BaseTrialStore:
    """Open the store, turning failures into click errors.

    Raises:
        click.ClickException: The store cannot be reached (exit code 1).
        click.BadParameter: The URL is malformed or names no usable store (exit 2).
    """
    try:
        return open_store(db_url)
    except StoreConnectionError as e:
        raise click.ClickException(f"cannot reach the store: {e}") from e
    except (ValueError, StoreError) as e:
        raise click.BadParameter(str(e), param_hint="'--db'") from e
