"""The shape of the package: no import cycle, nothing below importing anything above it, no
module longer than about 400 lines.

The imports are read from the source with ``ast`` -- every ``import`` and ``from ... import``
statement, at module level or inside a function (a lazy import is still a dependency) -- and
resolved to the package's own modules:

* ``from . import backend`` depends on the module ``backend``; ``from .backend import x`` too;
  ``from ..cuda import kernels`` on ``cuda.kernels``.
* Importing ``a.b.c`` runs the packages ``a`` and ``a.b`` first, so the importer depends on
  them as well -- except on the packages that contain the importer itself, which are already
  being imported by the time it runs (``ops/relu.py`` doing ``from .. import backend`` does not
  depend on ``unet_from_scratch/__init__.py``).

A cycle in that graph is a pair of modules that need each other to be imported first.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = "unet_from_scratch"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 420          # DESIGN.md: "no module is longer than about 400 lines"

# DESIGN.md's layers, bottom to top: a module may import from its own layer or below.
LAYERS = [
    ["backend"],
    ["checks"],
    ["reference", "cuda"],
    ["ops"],
    ["gradcheck"],
    ["nn", "model"],
    ["losses", "metrics", "optim"],
    ["data"],
    ["train", "tiling", "submission", "checkpoints", "prediction", "progress"],
    ["teaching", "exercises"],
    ["cli", "bench", "viz", "netcheck", "__main__"],
]


def module_name(path):
    """``unet_from_scratch/ops/relu.py`` -> "unet_from_scratch.ops.relu"; a package's
    ``__init__.py`` -> the package's name."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def imported_modules(name):
    """The package's modules that the module ``name`` names in its import statements."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if name in PACKAGES else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:       # "from pkg import module" imports the module
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in MODULES else source)
    return {target for target in found if target in MODULES}


def dependencies(name):
    """What must be imported before ``name`` can finish: each imported module, and each package
    on the way to it that does not contain ``name`` itself."""
    own_packages = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
    needed = set()
    for target in imported_modules(name):
        parts = target.split(".")
        for length in range(1, len(parts) + 1):
            prefix = ".".join(parts[:length])
            if prefix != name and prefix not in own_packages:
                needed.add(prefix)
    return needed


def find_cycle(graph):
    """One cycle of ``graph`` ({node: set of nodes}) as a list of nodes, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_walk_sees_the_imports_it_must():
    """The resolver itself: relative imports, submodules named in ``from`` lists, lazy imports."""
    assert f"{PACKAGE}.cuda.kernels" in imported_modules(f"{PACKAGE}.ops.relu")
    assert f"{PACKAGE}.backend" in imported_modules(f"{PACKAGE}.ops.relu")
    assert f"{PACKAGE}.checks" in dependencies(f"{PACKAGE}.ops.relu")
    assert PACKAGE not in dependencies(f"{PACKAGE}.ops.relu")        # its own package
    assert f"{PACKAGE}.viz" in imported_modules(f"{PACKAGE}.cli.extras")   # imported in a function
    assert f"{PACKAGE}.cli" in dependencies(f"{PACKAGE}.bench.command")   # cli/__init__ runs first


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_anywhere_in_the_package():
    graph = {name: dependencies(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def layer_of(name):
    """The index in LAYERS of the top-level module or package that ``name`` belongs to."""
    top = name.split(".")[1] if "." in name else None
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{name} is in no layer of LAYERS: add it to DESIGN.md's table and here")


@pytest.mark.parametrize("name", sorted(name for name in MODULES if name != PACKAGE))
def test_nothing_imports_from_a_layer_above_it(name):
    above = [target for target in imported_modules(name)
             if target != PACKAGE and layer_of(target) > layer_of(name)]
    assert not above, f"{name} (layer {layer_of(name)}) imports {above} from a layer above it"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_much_longer_than_400_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines: it holds two jobs, split it"
