"""The lessons: all eleven notebooks are there, committed without outputs, laid out as the
course expects (a goal, a setup cell reading the small-size switch, exercises each followed by
its checker); the student versions are generated, every solution replaced by the stub; each
exercise's checker rejects the stub and accepts the solution; and every instructor notebook
executes headless with ``UNET_LESSONS_SMALL=1`` (nbclient, a development dependency).
"""

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from unet_from_scratch.cli import command as cli
from unet_from_scratch.teaching import student as lessons
from unet_from_scratch.exercises import ExerciseError

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
NAMES = ["00_the_problem", "01_convolution_forward", "02_backprop_and_gradient_checking",
         "03_max_pooling", "04_up_convolution", "05_skip_connections", "06_assembling_the_unet",
         "07_dice_and_cross_entropy", "08_training", "09_the_gpu", "10_real_data"]
NOTEBOOKS = [LESSONS / f"{name}.ipynb" for name in NAMES]


def read(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"])


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def exercises_of(path):
    """(index of the exercise cell, source of the check cell after it) for each exercise."""
    cells = read(path)["cells"]
    return [(i, source(cells[i + 1])) for i, cell in enumerate(cells) if "exercise" in tags(cell)]


EXERCISES = [(path, index) for path in NOTEBOOKS for index, _ in exercises_of(path)]


def test_all_eleven_lessons_are_there_and_nothing_else():
    assert sorted(p.name for p in LESSONS.glob("*.ipynb")) == [f"{name}.ipynb" for name in NAMES]
    assert lessons.lesson_paths(LESSONS) == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_without_outputs(path):
    """Outputs stay out of git (lessons/README.md says so): diffs remain readable."""
    for index, cell in enumerate(code_cells(read(path))):
        assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: code cell {index}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_layout_goal_setup_and_exercises(path):
    notebook = read(path)
    first = notebook["cells"][0]
    assert first["cell_type"] == "markdown" and "**Goal.**" in source(first), path.name
    setup = code_cells(notebook)[0]
    assert "setup" in tags(setup) and 'os.environ.get("UNET_LESSONS_SMALL") == "1"' in source(setup)
    found = exercises_of(path)
    assert found, f"{path.name} has no exercise"
    cells = notebook["cells"]
    for index, check_source in found:
        assert lessons.BEGIN in source(cells[index]) and lessons.END in source(cells[index])
        assert "check" in tags(cells[index + 1]) and check_source.strip().startswith("check_"), path.name


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    """The student versions, written by the command line as an instructor would."""
    out = tmp_path_factory.mktemp("student")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert cli.main(["lessons", "--student", str(out), "--from", str(LESSONS)]) == 0
    assert f"wrote {len(NOTEBOOKS)} student notebooks" in printed.getvalue()
    return out


def test_student_versions_replace_every_solution_and_nothing_else(student_dir):
    for path in NOTEBOOKS:
        instructor, student = read(path), read(student_dir / path.name)
        assert len(student["cells"]) == len(instructor["cells"])
        stubs = 0
        for teacher_cell, student_cell in zip(instructor["cells"], student["cells"]):
            if lessons.BEGIN in source(teacher_cell):
                text = source(student_cell)
                assert lessons.BEGIN not in text and lessons.END not in text
                stubs += text.count(lessons.STUB)
            else:
                assert source(student_cell) == source(teacher_cell)
        assert stubs == lessons.count_solutions(instructor) == len(exercises_of(path)), path.name


def run_cells(*sources):
    """Execute cell sources in one fresh namespace, as a kernel would, with printing silenced."""
    namespace = {"__name__": "__lesson__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for text in sources:
            exec(compile(text, "<cell>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("path, index", EXERCISES,
                         ids=[f"{path.stem[:2]}-cell{index}" for path, index in EXERCISES])
def test_checker_rejects_the_stub_and_accepts_the_solution(student_dir, path, index):
    instructor, student = read(path), read(student_dir / path.name)
    setup = source(code_cells(instructor)[0])
    check = source(instructor["cells"][index + 1])
    with pytest.raises(ExerciseError, match="still raises NotImplementedError: the exercise is not done yet"):
        run_cells(setup, source(student["cells"][index]), check)
    run_cells(setup, source(instructor["cells"][index]), check)


def test_the_default_lessons_folder_is_this_checkouts():
    assert lessons.default_lessons_dir() == LESSONS


def test_lessons_command_refuses_to_overwrite_the_instructor_versions(capsys):
    assert cli.main(["lessons", "--student", str(LESSONS), "--from", str(LESSONS)]) == 2
    assert "would overwrite the instructor versions" in capsys.readouterr().err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_lesson_executes_headless_with_small_sizes(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="notebook tooling: pip install -e '.[dev]'")
    nbclient = pytest.importorskip("nbclient", reason="notebook tooling: pip install -e '.[dev]'")
    monkeypatch.setenv("UNET_LESSONS_SMALL", "1")
    # the kernel imports this checkout, whether or not it is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(LESSONS)}})
    client.execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs if output.get("output_type") == "stream")
    assert printed.count("\u2713 check_") == len(exercises_of(path)), printed
