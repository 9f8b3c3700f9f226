# cuvirt's Python start-up defaults, put on PYTHONPATH by cuvirt-run.
#
# cuvirt's CPU device runs PTX, not GPU machine code, so Python CUDA clients
# must hand the driver PTX:
#  - cuda-python's nvJitLink (used by cuda.core and numba-cuda when it can be
#    loaded) links to machine-code-only cubins. It is hidden here, when
#    cuda.bindings loads it, so they link with the driver's cuLink* (cuvirt's
#    linker) instead. CUVIRT_PYTHON_NVJITLINK=1 keeps it.
#  - CuPy: cuvirt-run sets CUPY_COMPILE_WITH_PTX=1 for the same reason.
# Then the next sitecustomize on sys.path, if any, runs as usual.
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings


class _HideNvJitLink(importlib.abc.MetaPathFinder):
    """Patches cuda.bindings' nvJitLink loader as it is imported (lazily:
    importing cuda.bindings at every start-up would cost 0.3 s)."""

    NAME = "cuda.bindings._internal.nvjitlink"

    def find_spec(self, fullname, path, target=None):
        if fullname != self.NAME:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader_exec = spec.loader.exec_module

        def exec_module(module):
            loader_exec(module)
            # numba-cuda and cuda.core both ask for this symbol to decide
            module._inspect_function_pointer = lambda name: 0

        spec.loader.exec_module = exec_module
        return spec


def _chain():
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or spec.origin == __file__:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


if os.environ.get("CUVIRT_PYTHON_NVJITLINK") != "1":
    sys.meta_path.insert(0, _HideNvJitLink())
    warnings.filterwarnings("ignore", message=r"libnvJitLink\.so\* is too old")
_chain()
