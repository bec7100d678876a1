"""The lessons' student versions: every solution replaced by a stub.

The notebooks in ``lessons/`` are the instructor versions.  In their exercise cells the
solution sits between two marker lines, as in nbgrader::

    def my_conv2d(x, w, b, stride, padding):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

:func:`write_student_lessons` (``unet-scratch lessons --student OUT_DIR``) writes a copy of
every notebook in which each such block, markers included, becomes one line
``raise NotImplementedError("exercise")`` at the marker's indentation, and every output is
cleared.  The checker cell after each exercise (``check_...(my_conv2d)``, from
:mod:`unet_from_scratch.teaching.exercises`) then tells the student the exercise is not done yet.

A notebook is read and written as plain JSON (the .ipynb format), so this needs no Jupyter
package.
"""

import json
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("exercise")'


def default_lessons_dir():
    """The ``lessons/`` folder beside the package (in a checkout or an editable install)."""
    return Path(__file__).resolve().parents[2] / "lessons"


def lesson_paths(lessons_dir):
    """The notebooks of ``lessons_dir`` in course order (their names start 00_, 01_, ...)."""
    lessons_dir = Path(lessons_dir)
    if not lessons_dir.is_dir():
        raise ValueError(f"lessons: no lessons folder at {lessons_dir} (give the lessons/ folder "
                         f"of a checkout of unet_from_scratch)")
    paths = sorted(lessons_dir.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError(f"lessons: {lessons_dir} holds no notebooks named like 00_name.ipynb")
    return paths


def student_source(source, where="cell"):
    """``source`` (the text of a code cell) with every solution block replaced by the stub.

    A marker is a line that holds only the marker (spaces around it allowed); everything
    else, line endings included, is kept as it is.  Raises ``ValueError`` naming ``where``
    for a BEGIN without its END, an END without its BEGIN, or a BEGIN inside another
    solution.
    """
    lines, inside = [], False
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"lessons: {where}, line {number}: {BEGIN} inside another solution")
            inside = True
            indent = line[:len(line) - len(line.lstrip())]
            lines.append(indent + STUB)
        elif marker == END:
            if not inside:
                raise ValueError(f"lessons: {where}, line {number}: {END} without {BEGIN}")
            inside = False
            lines[-1] += line[len(line.rstrip("\r\n")):]      # the END line's newline, if any
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"lessons: {where}: {BEGIN} without {END}")
    return "".join(lines)


def student_notebook(notebook, name="notebook"):
    """A copy of ``notebook`` (the dict of an .ipynb file) with every solution stubbed and
    every output and execution count cleared."""
    notebook = json.loads(json.dumps(notebook))          # a deep copy
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        cell["source"] = _as_lines(student_source(_source(cell), where=f"{name}, cell {index}"))
        cell["outputs"] = []
        cell["execution_count"] = None
    return notebook


def count_solutions(notebook):
    """How many solution blocks (BEGIN marker lines) the notebook's code cells hold."""
    return sum(line.strip() == BEGIN
               for cell in notebook["cells"] if cell["cell_type"] == "code"
               for line in _source(cell).splitlines())


def write_student_lessons(out_dir, lessons_dir=None, log=print):
    """Write the student version of every lesson of ``lessons_dir`` (default: the ``lessons/``
    folder beside the package) into ``out_dir``, under the same names.  Returns the paths
    written.  Refuses to write into the lessons folder itself."""
    lessons_dir = Path(lessons_dir) if lessons_dir is not None else default_lessons_dir()
    paths = lesson_paths(lessons_dir)
    out_dir = Path(out_dir)
    if out_dir.resolve() == lessons_dir.resolve():
        raise ValueError(f"lessons: the student versions would overwrite the instructor versions "
                         f"in {lessons_dir}; choose another folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"lessons: {path} is not a notebook (JSON): {error}") from None
        student = student_notebook(notebook, name=path.name)
        target = out_dir / path.name
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
        if log:
            log(f"{target}  ({count_solutions(notebook)} exercises)")
    return written


def _source(cell):
    """A cell's source as one string (the .ipynb format allows a list of lines or a string)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _as_lines(text):
    """A cell's source as the .ipynb format stores it: lines that keep their newlines."""
    return text.splitlines(keepends=True)
