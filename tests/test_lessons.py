"""The lessons: all twelve notebooks are there, committed without outputs, laid out as the
course expects (a goal, a setup cell reading the small-size switch, exercises each followed by
its checker) and marked up for nbgrader (solution cells, autograded test cells with points,
read-only text and setup); the student versions are generated, every solution replaced by the
stub, and never over a student's notebooks without --force; each exercise's checker rejects the
stub and accepts the solution; and every instructor notebook executes headless with
``UNET_LESSONS_SMALL=1`` (nbclient, a development dependency) -- unless nbgrader is installed:
then tests/test_nbgrader.py runs nbgrader itself on them, which executes every notebook too.
"""

import contextlib
import importlib.util
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
         "07_dice_and_cross_entropy", "08_training", "09_batch_norm_and_dropout", "10_the_gpu",
         "11_real_data"]
NOTEBOOKS = [LESSONS / f"{name}.ipynb" for name in NAMES]


def read(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"])


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def grading(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises_of(path):
    """(index of the exercise cell, source of the check cell after it) for each exercise."""
    cells = read(path)["cells"]
    return [(i, source(cells[i + 1])) for i, cell in enumerate(cells) if "exercise" in tags(cell)]


EXERCISES = [(path, index) for path in NOTEBOOKS for index, _ in exercises_of(path)]


def test_all_twelve_lessons_are_there_and_nothing_else():
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_nbgrader_metadata(path):
    """Exercise cells are solution cells, checker cells autograded test cells worth a point and
    locked, text and setup cells read-only; every grade_id is unique and names its exercise."""
    cells = read(path)["cells"]
    ids = [grading(cell)["grade_id"] for cell in cells if grading(cell)]
    assert len(ids) == len(set(ids)), path.name
    for index, cell in enumerate(cells):
        meta, where = grading(cell), f"{path.name}, cell {index}"
        if "exercise" in tags(cell):
            name = source(cells[index + 1]).strip().split("(")[0][len("check_"):]
            assert meta["grade_id"] == f"exercise_{name}", where
            assert meta["solution"] and not meta["grade"] and not meta["locked"], where
        elif "check" in tags(cell):
            assert meta["grade_id"] == source(cell).strip().split("(")[0], where
            assert meta["grade"] and meta["locked"] and meta["points"] > 0 and not meta["solution"], where
        elif "question" in tags(cell):                 # a self-check question: the answer is hidden
            assert cell["cell_type"] == "markdown" and meta["grade_id"].startswith("question_"), where
            # nbgrader's manually graded answer (a markdown solution cell must be a grade cell),
            # worth no points: a self-check
            assert meta["solution"] and meta["grade"] and meta["points"] == 0 and not meta["locked"], where
            assert source(cell).startswith("**Question ") and lessons.BEGIN in source(cell), where
        elif cell["cell_type"] == "markdown" or "setup" in tags(cell):
            assert meta["locked"] and not meta["grade"] and not meta["solution"], where
        else:
            assert not meta, where                      # the demonstrations stay editable
        assert not meta or meta["schema_version"] == 3, where


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
            if "question" in tags(teacher_cell):
                question, answer = source(teacher_cell).split(lessons.BEGIN)
                assert source(student_cell) == question + lessons.TEXT_STUB     # the answer goes
                assert "**Answer.**" in answer and "**Answer.**" not in source(student_cell)
                assert student_cell["metadata"]["deletable"] is False
            elif lessons.BEGIN in source(teacher_cell):
                text = source(student_cell)
                assert lessons.BEGIN not in text and lessons.END not in text
                stubs += text.count("# YOUR CODE HERE\n    raise NotImplementedError()")
                assert student_cell["metadata"]["deletable"] is False
            elif grading(teacher_cell).get("grade"):
                hidden = source(teacher_cell).split(lessons.BEGIN_HIDDEN)
                assert len(hidden) == 2 and "hidden=True" in hidden[1]
                assert source(student_cell) == hidden[0].rstrip("\n")          # the grading cases go
                assert student_cell["metadata"]["editable"] is False
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_two_or_three_self_check_questions_with_answers(path):
    """Every lesson asks two or three questions; the instructor version answers them."""
    questions = [cell for cell in read(path)["cells"] if "question" in tags(cell)]
    assert 2 <= len(questions) <= 3, path.name
    for cell in questions:
        answer = source(cell).split(lessons.BEGIN)[1].split(lessons.END)[0].strip()
        assert answer.startswith("**Answer.**") and len(answer) > 40, (path.name, answer)


def test_the_default_lessons_folder_is_this_checkouts():
    assert lessons.default_lessons_dir() == LESSONS


def test_lessons_command_refuses_to_overwrite_the_instructor_versions(capsys):
    assert cli.main(["lessons", "--student", str(LESSONS), "--from", str(LESSONS)]) == 2
    assert "would overwrite the instructor versions" in capsys.readouterr().err


def test_lessons_command_keeps_a_students_work_unless_forced(tmp_path, capsys):
    """A second run names the notebooks it would replace and writes nothing;
    --force replaces them."""
    out = tmp_path / "stud"
    assert cli.main(["lessons", "--student", str(out)]) == 0
    edited = out / "01_convolution_forward.ipynb"
    edited.write_text(edited.read_text().replace("YOUR CODE HERE", "my own work"))
    (out / "03_max_pooling.ipynb").unlink()
    capsys.readouterr()
    assert cli.main(["lessons", "--student", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already holds 11 of the notebooks" in error
    assert "01_convolution_forward.ipynb" in error and "--force" in error
    assert "03_max_pooling.ipynb" not in error
    assert "my own work" in edited.read_text() and not (out / "03_max_pooling.ipynb").exists()
    assert cli.main(["lessons", "--student", str(out), "--force"]) == 0
    assert "my own work" not in edited.read_text() and (out / "03_max_pooling.ipynb").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_lesson_executes_headless_with_small_sizes(path, monkeypatch):
    if importlib.util.find_spec("nbgrader") is not None:
        pytest.skip("executed by tests/test_nbgrader.py: nbgrader's autograde of the solutions runs "
                    "every cell of every lesson and fails on any error")
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
    # each checker cell of the instructor version runs the visible cases and the grading cases
    assert printed.count("\u2713 check_") == 2 * len(exercises_of(path)), printed
    assert printed.count(": grading cases: ") == len(exercises_of(path)), printed
