"""Import objects by reference: ``package.module:attribute`` (dotted attributes too)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterator
from typing import Any

from hpo_service._common.words import did_you_mean
from hpo_service.exceptions import ObjectiveImportError


def split_reference(reference: str, kind: str = "function") -> tuple[str, str]:
    """Split ``package.module:attr`` into module and attribute path.

    Args:
        reference: ``package.module:attr`` (dotted attributes too).
        kind: What the reference should name (``"function"``, ``"space"``), for the
            hint of a reference without a colon (``'train:FUNCTION'``).

    Raises:
        ValueError: The reference is not of that form.
    """
    module, sep, attr = reference.partition(":")
    if not sep or not module or not attr or ":" in attr:
        raise ValueError(
            f"a reference must look like `package.module:name`, but got {reference!r}"
            + _dotted_hint(reference, kind)
        )
    named_file = module.endswith(".py") and os.path.isfile(module)  # not pkg.py
    if "/" in module or os.sep in module or named_file:
        raise ValueError(_file_hint(module, attr, reference))
    return module, attr


def _dotted_hint(reference: str, kind: str) -> str:
    """``"; did you mean 'pkg.mod:fn'?"`` for a reference written all with dots
    (``pkg.mod.fn``, as a Python import path); for a script's file name
    (``train.py``, nothing named) or a module alone (``train``) ``"; name a function
    in it: 'train:FUNCTION'"`` (``kind`` "space": ``"; name the space in it:
    'train:SPACE'"``; not 'train:py'); else ``""``."""
    module, dot, attr = reference.rpartition(".")
    if ":" in reference or "/" in reference or not reference.strip():
        return ""
    stem = reference if not dot else module if attr == "py" else None
    if stem:  # a module alone, or a script's file name
        article = "the" if kind == "space" else "a"
        return f"; name {article} {kind} in it: '{stem}:{kind.upper()}'"
    if not module or not attr:
        return ""
    return f"; did you mean '{module}:{attr}'?"


def _file_hint(path: str, attr: str, reference: str) -> str:
    """The error for a reference that names a file (``dir/mod.py:fn``)."""
    stem = os.path.normpath(path.removesuffix(".py"))
    where = "from this directory or with it on PYTHONPATH"
    if os.path.isabs(stem) or stem.startswith(".."):
        folder, module = os.path.split(os.path.abspath(stem))
        where = f"from {folder!r} or with it on PYTHONPATH"
    else:  # a relative path: its folders are packages
        module = stem.replace(os.sep, ".")
    return (
        "a reference must name a module, `package.module:name`, not a file, but got "
        f"{reference!r}: use `{module}:{attr}`, run {where}"
    )


def add_cwd_to_path() -> None:
    """Let references name modules in the working directory, as ``python -m`` does."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def import_reference(reference: str, kind: str = "function") -> Any:
    """Import and return the object named by ``reference``.

    Args:
        reference: ``package.module:attr``.
        kind: What it should name, for the hint of a malformed one (see
            :func:`split_reference`).

    Raises:
        ValueError: The reference is malformed.
        ObjectiveImportError: The module or attribute cannot be imported.
    """
    module_name, _ = split_reference(reference, kind)
    add_cwd_to_path()
    try:
        with program_arguments(module_name):
            obj: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as e:  # argparse at import raises SystemExit
        hint = ""
        if isinstance(e, ModuleNotFoundError):
            hint = _module_hint(reference, e) + _where_hint(module_name, e)
        raise ObjectiveImportError(
            f"cannot import {reference!r}: {type(e).__name__}: {e}{hint}"
        ) from e
    return _attribute(obj, reference)


def _attribute(module: Any, reference: str) -> Any:
    """The object the attribute path of ``reference`` names in ``module``.

    Raises:
        ObjectiveImportError: A part of the path does not exist (with the closest
            names that do, as whole references).
    """
    module_name, attr = split_reference(reference)
    obj, done = module, []
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as e:
            owner = f"{module_name}:{'.'.join(done)}" if done else module_name
            prefix = f"{module_name}:" + "".join(f"{d}." for d in done)
            raise ObjectiveImportError(
                f"cannot import {reference!r}: the name after ':' must be an "
                f"attribute of {'module ' if not done else ''}{owner!r}, "
                f"but got {part!r}"
                + did_you_mean(part, _public_names(obj), shown=prefix + "{}")
            ) from e  # the worker records the cause's type (AttributeError)
        done.append(part)
    return obj


def _public_names(obj: Any) -> list[str]:
    """The names a reference may mean in ``obj`` (no ``_private`` ones)."""
    try:
        return [name for name in dir(obj) if not name.startswith("_")]
    except Exception:  # a strange object's __dir__: no suggestion then
        return []


@contextlib.contextmanager
def program_arguments(module_name: str) -> Iterator[None]:
    """Give code that reads ``sys.argv`` (argparse at a module's top level) the
    command line of a program run without arguments, named after the module, rather
    than the arguments of the hpo-driver or worker process importing it."""
    saved = sys.argv[:]
    sys.argv[:] = [module_name]
    try:
        yield
    finally:
        sys.argv[:] = saved


def check_importable(reference: str) -> None:
    """Check that the module of ``reference`` can be found, without running it.

    Raises:
        ValueError: The reference is malformed.
        ObjectiveImportError: No such module.
    """
    module_name, _ = split_reference(reference)
    add_cwd_to_path()
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as e:
        found = None
        hint = _module_hint(reference, e) + _where_hint(module_name, e)
        reason = f"{type(e).__name__}: {e}{hint}"
    else:
        hint = _module_hint(reference) + _where_hint(module_name)
        reason = f"no module named {module_name!r}{hint}"
    if found is None:
        raise ObjectiveImportError(f"cannot import {reference!r}: {reason}")


def _module_hint(reference: str, error: BaseException | None = None) -> str:
    """``"; did you mean 'pkg.module:attr'?"`` when the reference's module (not one
    of its own imports) was not found and a module of a close name exists where it
    was looked for (its parent package, else the import path), else ``""``."""
    module_name, attr = split_reference(reference)
    missing = getattr(error, "name", None) or module_name
    if missing != module_name and not module_name.startswith(missing + "."):
        return ""  # the module exists; something it imports does not
    parent, _, last = missing.rpartition(".")
    try:
        path = importlib.import_module(parent).__path__ if parent else sys.path
    except (Exception, SystemExit):  # no package there: nothing to suggest
        return ""
    rest = module_name[len(missing) :]  # ".objectives" of "mylab.objectives"
    names = [
        found.name
        for found in pkgutil.iter_modules(path)
        if not rest or _holds(found, rest.split(".")[1])
    ]
    shown = (parent + "." if parent else "") + "{}" + rest
    return did_you_mean(last, names, shown=f"{shown}:{attr}")


def _holds(package: pkgutil.ModuleInfo, name: str) -> bool:
    """Whether ``package`` (found on a path, not imported) has a module ``name``:
    a suggestion for ``mylab.objectives`` must be a package that holds
    ``objectives`` (not matplotlib's ``pylab``, a module of a close name)."""
    folder = getattr(package.module_finder, "path", None)
    if not package.ispkg or folder is None:
        return False
    where = [os.path.join(folder, package.name)]
    return importlib.machinery.PathFinder.find_spec(name, where) is not None


def _where_hint(module_name: str, error: BaseException | None = None) -> str:
    """Where Python looks for ``module_name``, when it (not one of its own imports)
    was not found."""
    missing = getattr(error, "name", module_name) if error is not None else module_name
    if not isinstance(error, ModuleNotFoundError | None) or not missing:
        return ""
    if module_name != missing and not module_name.startswith(missing + "."):
        return ""  # the module exists; something it imports does not
    return (
        f" (modules are found from the working directory {os.getcwd()!r} and "
        "PYTHONPATH: run from the directory that holds the module, or add that "
        "directory to PYTHONPATH)"
    )


def reference_of(fn: Any) -> str:
    """The ``module:qualname`` reference of a function, for workers to import.

    Raises:
        ValueError: ``fn`` is not importable by reference (a lambda, a local function,
            or a function defined in ``__main__``).
    """
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise ValueError(
            "workers import the objective by reference, so it must be a module-level "
            f"function, but got {fn!r}"
        )
    if module == "__main__":
        raise ValueError(
            f"workers cannot import {qualname!r} from __main__: move the objective to "
            f"a module, or {_script_advice(qualname)}"
        )
    return f"{module}:{qualname}"


def _script_advice(qualname: str) -> str:
    """How to let workers import an objective of the script being run, ``python
    train.py``: as module ``train``, its search kept from running again inside each
    worker by the ``__main__`` guard (``"put the script's search under ..."``)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    name = os.path.splitext(os.path.basename(path))[0] if path else ""
    if not name.isidentifier():  # a notebook, python -c, or an unimportable name
        return "pass objective='package.module:function'"
    return (
        f"put the search of {os.path.basename(path)!r} under `if __name__ == "
        f"\"__main__\":` and pass objective='{name}:{qualname}' to StoreTrials (or "
        f"MongoTrials): workers started in {os.path.dirname(os.path.abspath(path))!r} "
        f"(or with it on PYTHONPATH) import the script as module {name!r}"
    )


def check_objective(reference: str) -> str | None:
    """Check that ``reference`` names a callable, importing its module if it can.

    The module's existence is checked without running it; then it is imported to
    check that the function exists (a typo in ``module:function`` is caught before
    a study is created, not by every worker). An import that fails for another
    reason (a dependency this machine lacks, code that runs only on workers) is
    not held against the reference: the reason is returned for a warning.

    Returns:
        None when the function was found, else why it could not be checked.

    Raises:
        ValueError: The reference is malformed.
        ObjectiveImportError: No such module, no such attribute, not callable, or a
            standard-library module (never an objective; see
            :func:`is_standard_library`).
    """
    check_importable(reference)
    module_name, _ = split_reference(reference)
    if is_standard_library(module_name):
        raise ObjectiveImportError(
            f"an objective must be a function of your own code, but {reference!r} "
            "is in the standard library"
        )
    try:
        with program_arguments(module_name):
            module = importlib.import_module(module_name)
    except (Exception, SystemExit) as e:
        return f"importing {module_name!r} failed here: {type(e).__name__}: {e}"
    obj = _attribute(module, reference)
    if not callable(obj):
        raise ObjectiveImportError(not_callable(reference, obj))
    return None


def not_callable(reference: str, obj: object) -> str:
    """The error for an objective ``reference`` that names ``obj``, no callable:
    "objective 'm:space' must be callable (a function of the config), but got an
    object of type dict"."""
    return (
        f"objective {reference!r} must be callable (a function of the config), but "
        f"got an object of type {type(obj).__name__}"
    )


def is_standard_library(module_name: str) -> bool:
    """Whether ``module_name`` belongs to Python's standard library (``builtins``,
    ``os``, ``subprocess``, ...), whose functions run whatever a config says."""
    top = module_name.split(".", 1)[0]
    return top in sys.stdlib_module_names or top == "__main__"
