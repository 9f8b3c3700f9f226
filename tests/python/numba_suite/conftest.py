"""pytest plugin for running numba-cuda's own test suite (numba.cuda.tests)
from the installed wheel on cuvirt. The wheel does not ship the repository's
conftest.py, whose fixture and option its test classes request; this
provides the same ones. Load it with `-p conftest` and this directory on
PYTHONPATH (or `--rootdir`/`--confcutdir` pointing here)."""
import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--dump-failed-filechecks",
        action="store_true",
        help="Dump reproducers for FileCheck tests that fail.",
    )


@pytest.fixture(scope="class")
def initialize_from_pytest_config(request):
    # CUDATestCase subclasses read this in their FileCheck helpers.
    request.cls._dump_failed_filechecks = request.config.getoption(
        "dump_failed_filechecks"
    )
