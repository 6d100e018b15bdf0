"""Import recorder for tests/test_pipeline.py: Python loads this file at start-up in every process that has
this folder on PYTHONPATH (dvc, the stages it runs, their workers). At exit, a process appends one JSON line
to $COLORIZATION_IMPORT_LOG: its argv and the files of the project modules it imported, including those
loaded with importlib."""

import atexit
import json
import os
import sys


def _record() -> None:
    files = sorted(
        {
            module.__file__
            for name, module in list(sys.modules.items())
            if (name == "colorization" or name.startswith("colorization.")) and getattr(module, "__file__", None)
        }
    )
    line = json.dumps({"argv": sys.argv, "files": files}) + "\n"
    descriptor = os.open(os.environ["COLORIZATION_IMPORT_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


if os.environ.get("COLORIZATION_IMPORT_LOG"):
    atexit.register(_record)
