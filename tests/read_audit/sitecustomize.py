"""Test aid: record which files under results/ an ``ecopt`` stage process opens.

Put this folder on PYTHONPATH and set ECOPT_TEST_READ_LOG to a folder; every
``python -m ecopt.<stage>`` process then writes ``<pid>.json`` there at exit:
its argv, the files under ``results/`` it opened for reading, and those it
wrote (opened for writing, or the target of a rename: atomic writes). Python's
audit hooks (PEP 578) see every ``open`` and ``os.open``, including numpy's and
pandas'. tests/test_workflow.py compares the reads with each job's declared inputs.
"""

import os
import sys

_folder = os.environ.get("ECOPT_TEST_READ_LOG")
_argv = list(getattr(sys, "orig_argv", []))
if _folder and "-m" in _argv and _argv[_argv.index("-m") + 1 :][:1] and _argv[_argv.index("-m") + 1].startswith("ecopt."):
    import atexit
    import json

    _cwd = os.getcwd()
    _reads: set = set()
    _writes: set = set()
    _busy = [False]

    def _under_results(path):
        if isinstance(path, int):
            return None
        path = os.path.relpath(os.path.abspath(os.fsdecode(path)), _cwd)
        return path if path.startswith("results" + os.sep) else None

    def _hook(event, args):
        if _busy[0] or event not in ("open", "os.rename"):
            return
        _busy[0] = True
        try:
            if event == "open":
                path, mode, flags = args
                relative = _under_results(path)
                if relative is not None:
                    if mode is not None:
                        writing = any(letter in mode for letter in "wax+")
                    else:
                        writing = (flags & os.O_ACCMODE) != os.O_RDONLY
                    (_writes if writing else _reads).add(relative)
            else:
                relative = _under_results(args[1])
                if relative is not None:
                    _writes.add(relative)
        finally:
            _busy[0] = False

    def _report():
        with open(os.path.join(_folder, f"{os.getpid()}.json"), "w") as stream:
            json.dump({"argv": _argv, "reads": sorted(_reads), "writes": sorted(_writes)}, stream)

    sys.addaudithook(_hook)
    atexit.register(_report)
