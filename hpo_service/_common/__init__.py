"""Small helpers that every side of the service shares: the driver, the worker, the
objective's child process and the insight tools import them from here, never from
one another (the worker imports nothing of :mod:`hpo_service.driver`).

- ``words``, ``foreign_options``: counts and option names in messages (no
  dependencies);
- ``standard_json``: JSON out of trial data with non-finite floats, as every command
  and the dashboard write it (no dependencies);
- ``settings``: a study's stored settings and its budget (depends on the store's
  contract, :mod:`hpo_service.store._base`, only);
- ``stop_signals``: the signals that ask a driver or a worker to stop;
- ``processes``: a driver's or worker's owner id and the process identity in it
  that tells others when that process is certainly dead (``/proc``, no
  dependencies);
- ``trial_rows``: a stored trial as a JSON record and a CSV row, what
  ``hpo-driver trials`` writes and ``insight.trials_dataframe`` reads (depends on
  the store, the space and the objective's result rules).
"""
