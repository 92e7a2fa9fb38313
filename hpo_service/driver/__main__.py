"""``python -m hpo_service.driver`` runs ``hpo-driver``."""

from hpo_service.driver.cli import main

main()
