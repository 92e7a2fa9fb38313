"""The contract between the service and a user's objective.

- :mod:`~hpo_service.objective._reference`: finding an objective by its reference
  ``package.module:function`` (workers import it; nothing is unpickled);
- :mod:`~hpo_service.objective._result`: what an objective may return and how that
  becomes a stored result (``STATUS_*``, the loss);
- :mod:`~hpo_service.objective._report`: intermediate reports from a running objective
  (``report``, ``should_prune``) and whoever runs it routes them (a trial context).
"""
