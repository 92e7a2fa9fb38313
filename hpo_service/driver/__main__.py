"""``python -m hpo_service.driver`` runs ``hpo-driver``."""

from hpo_service.driver._entry import main

main()
