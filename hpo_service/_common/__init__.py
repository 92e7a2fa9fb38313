"""Small helpers with no dependencies that every side of the service shares: the
driver, the worker, the objective's child process and the insight tools import them
from here, never from one another."""
