"""The lessons' student versions, without nbgrader: what ``nbgrader generate_assignment``
makes of the instructor versions, as far as a student sees it.

The notebooks in ``lessons/`` are the instructor versions, with nbgrader's cell metadata
(``metadata.nbgrader``): each exercise cell is a *solution* cell, and in it the solution sits
between two marker lines::

    def my_conv2d(x, w, b, stride, padding):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

each checker cell after it is an autograded *test* cell, whose grading-time cases sit between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, and the text and setup cells are
read-only.  :func:`write_student_lessons` (``unet-scratch lessons --student OUT_DIR``) writes a
copy of every notebook in which, as nbgrader's ``generate_assignment`` does,

* each solution block, markers included, becomes nbgrader's stub at the marker's
  indentation (``# YOUR CODE HERE`` and ``raise NotImplementedError()``; in a markdown
  cell, the answer to a self-check question, ``YOUR ANSWER HERE``), and a solution cell
  without markers becomes the stub as a whole;
* each hidden-tests block, markers included, is removed;
* solution cells cannot be deleted, and test and read-only cells can be neither deleted nor
  edited (the ``deletable`` and ``editable`` cell metadata of Jupyter);
* every output and execution count is cleared.

A marker outside the cells meant for it, or marker text inside a longer line (which nbgrader
would take for a marker), is refused, so the two ways never differ silently.  The checker
cell after each exercise then tells the student the exercise is not done yet.

A notebook is read and written as plain JSON (the .ipynb format), so this needs no Jupyter
package.  Existing notebooks in the output folder are not replaced unless ``force`` is given.
"""

import json
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"      # nbgrader's stub for Python
TEXT_STUB = "YOUR ANSWER HERE"                              # ... and for a markdown answer


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


def replace_blocks(source, begin, end, replacement=None, where="cell"):
    """``source`` with every block from a ``begin`` line to an ``end`` line, both included,
    replaced by the lines of ``replacement`` at the ``begin`` line's indentation (or removed
    when ``replacement`` is None).  Returns ``(text, count)``.

    Lines are split at ``\\n`` only, as nbgrader does, so any ``\\r`` stays where it was.  A
    marker is a line that holds only the marker (spaces around it allowed).  Raises
    ``ValueError`` naming ``where`` for a BEGIN without its END, an END without its BEGIN, a
    BEGIN inside another block, or marker text inside a longer line.
    """
    keys = (begin.lstrip("# "), end.lstrip("# "))
    lines, inside, count = [], False, 0
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker not in (begin, end) and any(key in line for key in keys):
            raise ValueError(f"lessons: {where}, line {number}: marker text inside a longer line "
                             f"(nbgrader would take the line for a marker): {line.strip()[:60]!r}")
        if marker == begin:
            if inside:
                raise ValueError(f"lessons: {where}, line {number}: {begin} inside another block")
            inside, count = True, count + 1
            if replacement is not None:
                indent = line[:len(line) - len(line.lstrip())]
                lines += [indent + stub_line for stub_line in replacement.split("\n")]
        elif marker == end:
            if not inside:
                raise ValueError(f"lessons: {where}, line {number}: {end} without {begin}")
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"lessons: {where}: {begin} without {end}")
    return "\n".join(lines), count


def student_source(source, where="cell"):
    """``source`` (the text of a solution cell) with every solution block replaced by the stub."""
    return replace_blocks(source, BEGIN, END, STUB, where)[0]


def grading(cell):
    """A cell's nbgrader metadata (``{}`` for a cell that is not an nbgrader cell)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def student_notebook(notebook, name="notebook"):
    """A copy of ``notebook`` (the dict of an .ipynb file) as a student gets it: solutions
    stubbed, hidden tests removed, cells locked as nbgrader locks them, outputs and
    execution counts cleared."""
    notebook = json.loads(json.dumps(notebook))          # a deep copy
    for index, cell in enumerate(notebook["cells"]):
        where = f"{name}, cell {index}"
        meta = grading(cell)
        stub = STUB if cell["cell_type"] == "code" else TEXT_STUB
        text, solutions = replace_blocks(_source(cell), BEGIN, END, stub, where)
        text, hidden = replace_blocks(text, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if solutions and not meta.get("solution"):
            raise ValueError(f"lessons: {where}: a solution block in a cell that is not a "
                             f"solution cell (metadata.nbgrader.solution); nbgrader refuses it")
        if hidden and not meta.get("grade"):
            raise ValueError(f"lessons: {where}: hidden tests in a cell that is not an autograded "
                             f"test cell (metadata.nbgrader.grade); nbgrader refuses it")
        if meta.get("solution") and not solutions:
            text = stub
        cell["source"] = _as_lines(text)
        if meta.get("solution"):
            cell["metadata"]["deletable"] = False
        elif meta.get("grade") or meta.get("locked"):
            cell["metadata"]["deletable"] = False
            cell["metadata"]["editable"] = False
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            for field in ("collapsed", "scrolled"):     # as nbconvert's ClearOutput does
                cell["metadata"].pop(field, None)
    return notebook


def count_solutions(notebook, cell_type="code"):
    """How many solution blocks (BEGIN marker lines) the notebook's cells of ``cell_type``
    hold: the exercises ("code") or the answers to the self-check questions ("markdown")."""
    return sum(line.strip() == BEGIN for cell in notebook["cells"] if cell["cell_type"] == cell_type
               for line in _source(cell).split("\n"))


def existing_student_notebooks(out_dir, lessons_dir=None):
    """The notebooks that writing the student versions into ``out_dir`` would replace."""
    lessons_dir = Path(lessons_dir) if lessons_dir is not None else default_lessons_dir()
    return [Path(out_dir) / path.name for path in lesson_paths(lessons_dir)
            if (Path(out_dir) / path.name).exists()]


def write_student_lessons(out_dir, lessons_dir=None, log=print, force=False):
    """Write the student version of every lesson of ``lessons_dir`` (default: the ``lessons/``
    folder beside the package) into ``out_dir``, under the same names.  Returns the paths
    written.  Refuses to write into the lessons folder itself, and -- unless ``force`` -- to
    replace notebooks already in ``out_dir`` (a student's edits, say), naming them.  Every
    notebook is converted before the first is written, so a bad one leaves nothing behind."""
    lessons_dir = Path(lessons_dir) if lessons_dir is not None else default_lessons_dir()
    paths = lesson_paths(lessons_dir)
    out_dir = Path(out_dir)
    if out_dir.resolve() == lessons_dir.resolve():
        raise ValueError(f"lessons: the student versions would overwrite the instructor versions "
                         f"in {lessons_dir}; choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"lessons: {out_dir} exists and is not a folder")
    existing = existing_student_notebooks(out_dir, lessons_dir)
    if existing and not force:
        names = ", ".join(path.name for path in existing)
        raise ValueError(f"lessons: {out_dir} already holds {len(existing)} of the notebooks "
                         f"({names}); they may hold a student's work. Give --force to replace "
                         f"them, or choose another folder")
    converted = []
    for path in paths:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"lessons: {path} is not a notebook (JSON): {error}") from None
        converted.append((path, notebook, student_notebook(notebook, name=path.name)))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, notebook, student in converted:
        target = out_dir / path.name
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
        if log:
            log(f"{target}  ({count_solutions(notebook)} exercises, "
                f"{count_solutions(notebook, 'markdown')} self-check answers)")
    return written


def _source(cell):
    """A cell's source as one string (the .ipynb format allows a list of lines or a string)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _as_lines(text):
    """A cell's source as the .ipynb format stores it: lines that keep their newlines."""
    return text.splitlines(keepends=True)
