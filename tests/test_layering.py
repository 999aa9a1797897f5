"""The layering rules of ARCHITECTURE.md: core/ stays GUI-free, viz/ and widgets/ stay torch-free."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUI_MODULES = {"imgui_bundle", "imgui", "glfw", "OpenGL"}
# Offscreen GL is allowed only inside the synthetic dataset renderer, imported lazily inside functions.
GL_ALLOWED_LAZILY = ROOT / "core" / "data"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module name, imported at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [(name.split(".")[0], id(node) in top_level) for name in names]
    return found


def _python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_core_imports_no_gui_module():
    offenders = []
    for path in _python_files("core"):
        for module, at_top in _imports(path):
            if module not in GUI_MODULES:
                continue
            lazily_allowed = path.is_relative_to(GL_ALLOWED_LAZILY) and module == "OpenGL" and not at_top
            if not lazily_allowed:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offenders, offenders


def test_viz_and_widgets_import_no_torch():
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for folder in ("viz", "widgets")
        for path in _python_files(folder)
        for module, _ in _imports(path)
        if module == "torch"
    ]
    assert not offenders, offenders


def test_importing_every_core_module_loads_no_gui_module():
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in _python_files("core")
        if path.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(GUI_MODULES)!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"GUI modules loaded by core: {result.stdout.strip()}"


def _is_entry_point(path: Path) -> bool:
    """A command-line entry point: a `__main__.py`, or a script module with a top-level `__main__` block."""
    if path.name == "__main__.py":
        return True
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body)


def test_core_never_imports_the_app_layers():
    # Entry points are the top floor: `python -m core.bench` runs the renderer's sections (renderer/bench) beside
    # core's. Every other module of core stays below the renderer, viz and widgets.
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _python_files("core")
        if not _is_entry_point(path)
        for module, _ in _imports(path)
        if module in {"renderer", "viz", "widgets"}
    ]
    assert not offenders, offenders


def test_no_module_imports_an_entry_point_that_drives_the_app_layers():
    # Otherwise the entry point's upward imports would reach into the floors below it.
    upward = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in _python_files("core")
        if _is_entry_point(path) and any(module in {"renderer", "viz", "widgets"} for module, _ in _imports(path))
    }
    assert "core.bench.__main__" in upward  # the rule is live: the bench entry point drives the renderer
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
               for folder in ("core", "renderer", "viz", "widgets") for path in _python_files(folder)}
    offenders = sorted(f"{name} imports {target}" for name, path in modules.items()
                       for target in _project_imports(path, set(modules) | upward) & upward if target != name)
    assert not offenders, offenders


def test_the_gui_process_never_loads_torch():
    # The window process imports every panel and the render client; torch lives only in the worker.
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in ("viz", "widgets")
        for path in _python_files(folder)
    ] + ["renderer.worker", "renderer.requests", "renderer.jobs", "visualizer"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", "a GUI-side module imports torch"


def test_shared_names_and_defaults_have_one_definition():
    """The GUI side and the torch side read the same objects from core.names (no copies that could drift)."""
    import core.body.warp
    import core.camera
    import core.config
    import core.media
    import core.generator
    import core.names as names
    import core.networks.synthesis
    import core.paths.model
    import renderer.path_jobs
    import renderer.requests
    import viz.state

    same = [
        (core.camera.LOOKAT_PIVOT, core.paths.model.DEFAULT_LOOKAT, renderer.requests.DEFAULT_LOOKAT,
         viz.state.LOOKAT_PIVOT, names.LOOKAT_PIVOT),
        (core.camera.DEFAULT_FOCAL, core.paths.model.DEFAULT_FOCAL, renderer.requests.DEFAULT_FOCAL,
         viz.state.DEFAULT_FOCAL, names.DEFAULT_FOCAL),
        (core.generator.OUTPUT_NAMES, renderer.requests.OUTPUTS, viz.state.RENDER_OUTPUTS, names.OUTPUT_NAMES),
        (core.body.warp.WARP_MODES, renderer.requests.WARP_MODES, viz.state.WARP_MODES, names.WARP_MODES),
        (core.networks.synthesis.NOISE_MODES, renderer.requests.NOISE_MODES, viz.state.NOISE_MODES, names.NOISE_MODES),
        (core.media.VIDEO_SUFFIXES, renderer.path_jobs.VIDEO_SUFFIXES, names.VIDEO_SUFFIXES),
        (core.config.IMPORTANCE_SAMPLERS, renderer.requests.IMPORTANCE_SAMPLERS, names.IMPORTANCE_SAMPLERS),
        (core.config.CAMERA_CONVENTIONS, renderer.requests.CAMERA_CONVENTIONS, names.CAMERA_CONVENTIONS),
    ]
    for group in same:
        assert all(item is group[-1] for item in group), group
    import core.body.model
    import core.shipped
    import renderer.bench.viz
    import viz.shell.app_config
    import viz.training.process
    shipped = core.shipped
    assert shipped.DEFAULT_CHECKPOINT is viz.shell.app_config.DEFAULT_CHECKPOINT
    assert shipped.DEFAULT_CHECKPOINT is renderer.bench.viz.DEFAULT_CHECKPOINT
    assert shipped.REPO_ROOT is viz.training.process.REPO_ROOT and core.body.model.STANDIN_PATH is shipped.STANDIN_BODY
    import widgets.training_widget
    assert sorted(core.config.PRESETS) == sorted(names.PRESET_NAMES)  # a builder for each name the panel offers
    assert widgets.training_widget.PRESET_NAMES is names.PRESET_NAMES


def test_core_names_imports_nothing_and_core_shipped_only_os_and_pathlib():
    for name, allowed in (("names.py", set()), ("shipped.py", {"os", "pathlib"})):
        tree = ast.parse((ROOT / "core" / name).read_text())
        found = {alias.name if isinstance(node, ast.Import) else node.module for node in ast.walk(tree)
                 if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        assert found - {"__future__"} <= allowed, (name, found)


def _project_imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules `path` imports anywhere (functions too), except a `__main__` block's and a module
    `__getattr__`'s (documented compatibility shims that run only when a script asks for an old name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = set()
    for node in tree.body:
        is_main = isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
        if is_main or (isinstance(node, ast.FunctionDef) and node.name == "__getattr__"):
            skipped |= {id(child) for child in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in modules}
    return found


def test_no_import_circles_even_through_imports_inside_functions():
    files = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
             for folder in ("core", "renderer", "viz", "widgets") for path in _python_files(folder)}
    graph = {name: _project_imports(path, set(files)) - {name} for name, path in files.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, frontier = set(), [start]
        while frontier:
            for following in graph[frontier.pop()]:
                if following == goal:
                    return True
                if following not in seen:
                    seen.add(following)
                    frontier.append(following)
        return False

    circles = sorted(f"{name} <-> {other}" for name in graph for other in graph[name]
                     if name < other and reaches(other, name))
    assert not circles, circles


def test_the_viz_kernel_draws_nothing_and_the_panels_never_reach_the_shell():
    """viz/ (state, controller, sessions, jobs) is below the panels: no imgui, GL or glfw, no widgets, no shell;
    the drawing floors are viz/gl (GUI OpenGL), widgets/ (panels) and viz/shell (the window that wires them)."""
    kernel = [path for path in _python_files("viz")
              if not (path.is_relative_to(ROOT / "viz" / "shell") or path.is_relative_to(ROOT / "viz" / "gl"))]
    assert ROOT / "viz" / "controller.py" in kernel
    offenders = [f"{path.relative_to(ROOT)} imports {module}" for path in kernel for module, _ in _imports(path)
                 if module in GUI_MODULES | {"widgets"}]
    offenders += [f"{path.relative_to(ROOT)} imports viz.shell" for path in kernel + _python_files("widgets")
                  + _python_files("viz/gl") if "viz.shell" in _dotted_imports(path)]
    assert not offenders, offenders


def _dotted_imports(path: Path) -> set[str]:
    """Every module named by an import in `path`, and its parent packages."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found = [node.module]
        elif isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        else:
            continue
        for name in found:
            parts = name.split(".")
            names |= {".".join(parts[:index]) for index in range(1, len(parts) + 1)}
    return names
