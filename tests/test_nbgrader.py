"""nbgrader's real pipeline on the twelve lessons (the optional ``course`` extra:
``pip install -e ".[dev,course]"``; skipped where nbgrader is not installed).

On a temporary course folder, ``nbgrader generate_assignment`` makes the student versions of
the instructor notebooks, and ``nbgrader autograde`` grades four submissions of every lesson,
executed with ``UNET_LESSONS_SMALL=1``:

* ``solution``   -- the instructor notebooks: full points, and every check prints its tick;
* ``stub``       -- the released notebooks as they are: 0 on every exercise;
* ``delegating`` -- each exercise's body calls the package's own implementation: 0 on it;
* ``mistake``    -- each exercise's solution with one common mistake planted: 0 on it, and the
  feedback (``nbgrader generate_feedback``) names the mistake.

The self-check questions are nbgrader's manually graded answers worth 0 points: every
submission keeps them as released except the solutions, and they stay out of the points.
The points are read from nbgrader's gradebook and printed as a table (``pytest -rP``).  The
student versions that ``unet-scratch lessons --student`` writes without nbgrader are compared
with nbgrader's release, cell by cell.
"""

import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from unet_from_scratch.cli import command as cli

nbgrader_api = pytest.importorskip("nbgrader.api", reason="the course extra: pip install -e '.[dev,course]'")

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
ASSIGNMENT = "lessons"
STUDENTS = ("solution", "stub", "delegating", "mistake")

# What a student who calls the package instead of writing the exercise submits (the names are
# those the lesson's setup cell imports).  The package has no function that returns the
# central differences or the windows of a col2im thread, so those two have none.
DELEGATING = {
    "dice_coefficient": "return float(us.dice_per_image(pred[None], target[None])[0])",
    "conv2d_forward": "return ops.conv2d_forward(x, w, b, stride, padding)[0]",
    "conv2d_backward": "_, cache = ops.conv2d_forward(x, w, np.zeros(len(w)), stride, padding)\n"
                       "return ops.conv2d_backward(dy, cache)",
    "max_pool2d_backward": "return ops.max_pool2d_backward(dy, ops.max_pool2d_forward(x, 2)[1])",
    "conv_transpose2d_forward": "return ops.conv_transpose2d_forward(x, w, None, stride, 0)[0]",
    "center_crop": "return ops.center_crop_forward(x, (height, width))[0]",
    "skip_backward": "crop_cache = ops.center_crop_forward(d_down, d_joined.shape[2:])[1]\n"
                     "d_skip = ops.center_crop_backward(d_joined[:, :d_down.shape[1]], crop_cache)\n"
                     "return d_down + d_skip, d_joined[:, d_down.shape[1]:]",
    "unet_backward": "return model.backward(dlogits)",
    "unet_output_size": "return UNet(depth=depth, base_channels=1, padding='valid').output_size(size, size)[0]",
    "soft_dice_loss": "loss, cache = losses.dice_loss_forward(logits, targets, smooth=1.0, reduction='batch')\n"
                      "return float(loss), losses.dice_loss_backward(1.0, cache)[0]",
    "adam_step": "from unet_from_scratch.nn import Parameter\n"
                 "parameter = Parameter(p.copy())\n"
                 "adam = Adam([parameter], lr=lr, betas=(beta1, beta2), eps=eps)\n"
                 "adam.t = t - 1\n"
                 "adam.state['exp_avg'][0][...] = m\n"
                 "adam.state['exp_avg_sq'][0][...] = v\n"
                 "parameter.grad[...] = g\n"
                 "adam.step()\n"
                 "return parameter.data, adam.state['exp_avg'][0], adam.state['exp_avg_sq'][0]",
    "rle_encode": "return submission.rle_encode(mask)",
    "he_normal_init": "return us.nn.he_normal(rng, shape, int(np.prod(shape[1:])))",
    "batch_norm_forward": "y, cache = ops.batch_norm2d_forward(x, gamma, beta, running_mean, running_var, "
                          "training, momentum, eps)\n"
                          "return y, cache[:3]",
    "batch_norm_backward": "return ops.batch_norm2d_backward(dy, tuple(cache) + (True,))",
    "dropout_forward": "y, cache = ops.dropout_forward(x, p, rng, training)\nreturn y, cache[0]",
    "dropout_backward": "return ops.dropout_backward(dy, (cache, dy.shape, dy.dtype))",
    "tile_plan": "from unet_from_scratch import tiling\n"
                 "axis = tiling.plan_axis(tiling.Geometry(None, period, margin), length, tile_in)\n"
                 "return axis.starts, axis.pad_before, axis.pad_after",
}

# One common mistake planted in each solution: (text in the solution, its replacement, the
# words the feedback must contain).
MISTAKES = {
    "dice_coefficient": ("return 1.0", "return 0.0", "the convention is 1"),
    "conv2d_forward": ("n, c_in, h_in, w_in = x.shape", "w = w[:, :, ::-1, ::-1]\n    n, c_in, h_in, w_in = x.shape",
                       "it looks like you flipped the kernel"),
    "numerical_gradient": ("/ (2 * eps)", "/ eps", "divided by eps instead of 2 eps"),
    "conv2d_backward": ("dy.transpose(1, 0, 2, 3).reshape(c_out, -1)", "dy.reshape(c_out, -1)",
                        "reshaped dy (n, c_O, h_O, w_O) straight to (c_O, n h_O w_O)"),
    "max_pool2d_backward": ("wins = (corner == maximum) & ~taken", "wins = corner == maximum",
                            "sent the gradient to every tied maximum"),
    "conv_transpose2d_forward": ("] += \\", "] = \\", "instead of adding them"),
    "center_crop": ("top = (x.shape[2] - height) // 2\n    left = (x.shape[3] - width) // 2",
                    "top = (x.shape[2] - height + 1) // 2\n    left = (x.shape[3] - width + 1) // 2",
                    "cut the extra row or column at the top or left"),
    "skip_backward": ("d_encoder = d_down.copy()", "d_encoder = np.zeros_like(d_down)",
                      "dropped the gradient of one of the two paths"),
    "unet_backward": ("d_encoder = d_down.copy()", "d_encoder = np.zeros_like(d_down)",
                      "dropped the gradient that comes up through the pooling"),
    "unet_output_size": ("    size -= 4\n", "", "the two convolutions at the bottom"),
    "soft_dice_loss": ("return float(loss), dp * p * (1 - p)", "return float(loss), dp",
                       "stopped at the gradient with respect to p"),
    "adam_step": ("m_hat = m / (1 - beta1 ** t)\n    v_hat = v / (1 - beta2 ** t)", "m_hat, v_hat = m, v",
                  "left out the bias corrections"),
    "contributing_windows": ("offset = y + padding - i", "offset = y - i", "left out the padding"),
    "rle_encode": ("mask.T.ravel()", "mask.ravel()", "numbered the pixels row by row"),
    "tile_plan": ("half = margin // 2", "half = margin", "padded by the whole margin on each side"),
    "he_normal_init": ("fan_in = c_in * k_h * k_w", "fan_in = c_in", "took fan_in = c_I only"),
    "batch_norm_forward": ("running_var += momentum * var * count / (count - 1)", "running_var += momentum * var",
                           "updated it with the biased variance"),
    "batch_norm_backward": ("dx = scale * (dy - mean_dy - x_hat * mean_dy_x_hat)", "dx = scale * dy",
                            "treated the mean and the variance as constants"),
    "dropout_forward": ("mask = keep / (1 - p)\n", "mask = keep * 1.0\n", "did not scale the kept values by 1 / (1 - p)"),
    "dropout_backward": ("else dy * cache", "else dy", "ignored the mask"),
}


def read(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(path, notebook):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def grading(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def exercise_name(cell):
    return grading(cell)["grade_id"][len("exercise_"):]


def solution_body(cell):
    """The solution cell's text with the marker lines taken out (what a student would type)."""
    return "\n".join(line for line in source(cell).split("\n")
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def with_body(released_cell, body):
    """The released solution cell with nbgrader's stub replaced by ``body`` (indented 4)."""
    stub = "    # YOUR CODE HERE\n    raise NotImplementedError()"
    text = source(released_cell)
    assert stub in text
    return text.replace(stub, "\n".join("    " + line for line in body.split("\n")))


def nbgrader(course, *args):
    env = dict(os.environ, UNET_LESSONS_SMALL="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder: the lessons as one assignment, released, submitted four ways,
    autograded, and feedback generated for the planted mistakes."""
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "unet"\n'
                                               'c.Execute.timeout = 300\n')
    shutil.copytree(LESSONS, course / "source" / ASSIGNMENT, ignore=shutil.ignore_patterns("*.md"))
    nbgrader(course, "generate_assignment", ASSIGNMENT)
    release = course / "release" / ASSIGNMENT
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        instructor, released = read(path), read(release / path.name)
        submissions = {"solution": instructor, "stub": released,
                       "delegating": json.loads(json.dumps(released)),
                       "mistake": json.loads(json.dumps(released))}
        for teacher_cell, delegating_cell, mistake_cell in zip(instructor["cells"],
                                                              submissions["delegating"]["cells"],
                                                              submissions["mistake"]["cells"]):
            if not grading(teacher_cell).get("solution") or teacher_cell["cell_type"] != "code":
                continue                    # the self-check answers stay as released
            name = exercise_name(teacher_cell)
            if name in DELEGATING:
                delegating_cell["source"] = with_body(delegating_cell, DELEGATING[name])
            old, new, _ = MISTAKES[name]
            body = solution_body(teacher_cell)
            assert body.count(old) == 1, (name, old)
            mistake_cell["source"] = body.replace(old, new)
        for student, notebook in submissions.items():
            write(course / "submitted" / student / ASSIGNMENT / path.name, notebook)
    nbgrader(course, "autograde", ASSIGNMENT)
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--student", "mistake")
    return course


def scores(course):
    """{(student, lesson): {grade_id: (score, max_score)}} from nbgrader's gradebook."""
    table = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="unet") as gradebook:
        for student in STUDENTS:
            for notebook in gradebook.find_submission(ASSIGNMENT, student).notebooks:
                table[student, notebook.name] = {grade.name: (grade.score, grade.max_score)
                                                 for grade in notebook.grades}
    return table


def test_autograde_scores(course):
    table = scores(course)
    lessons = sorted({lesson for _, lesson in table})
    assert len(lessons) == 12
    lines = [f"{'lesson':<36}" + "".join(f"{student:>12}" for student in STUDENTS)]
    for lesson in lessons:
        row = []
        for student in STUDENTS:
            grades = table[student, lesson]
            if student == "delegating":         # only the exercises the package implements
                grades = {g: points for g, points in grades.items() if g[len("check_"):] in DELEGATING}
            row.append(f"{sum(s for s, _ in grades.values()):g} / {sum(m for _, m in grades.values()):g}"
                       if grades else "n/a")
        lines.append(f"{lesson:<36}" + "".join(f"{cell:>12}" for cell in row))
    print("\nnbgrader autograde, points per lesson (delegating: the exercises the package has an "
          "implementation of)\n" + "\n".join(lines))
    for lesson in lessons:
        # the self-check questions are manually graded answers worth 0 points: no autograde
        questions = {g: points for g, points in table["solution", lesson].items() if g.startswith("question_")}
        assert 2 <= len(questions) <= 3 and all(points == (0, 0) for points in questions.values()), lesson
        for student in STUDENTS:
            table[student, lesson] = {g: points for g, points in table[student, lesson].items()
                                      if not g.startswith("question_")}
        assert all(score == maximum > 0 for score, maximum in table["solution", lesson].values()), lesson
        assert all(score == 0 for score, _ in table["stub", lesson].values()), lesson
        assert all(score == 0 for score, _ in table["mistake", lesson].values()), lesson
        for grade_id, (score, _) in table["delegating", lesson].items():
            if grade_id[len("check_"):] in DELEGATING:
                assert score == 0, (lesson, grade_id)


def check_outputs(course, student, lesson):
    """{grade_id: everything the checker cell printed or raised} in an autograded notebook."""
    notebook = read(course / "autograded" / student / ASSIGNMENT / f"{lesson}.ipynb")
    def text(output):
        parts = [output.get("text", ""), output.get("evalue", "")]
        return "".join("".join(part) if isinstance(part, list) else part for part in parts)
    return {grading(cell)["grade_id"]: "".join(text(output) for output in cell["outputs"])
            for cell in notebook["cells"] if grading(cell).get("grade") and cell["cell_type"] == "code"}


def test_the_solutions_run_without_an_error(course):
    """Every cell of every lesson, the demonstrations included, runs through (nbgrader's
    autograde records an error in a cell without points and goes on; this test does not)."""
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        notebook = read(course / "autograded" / "solution" / ASSIGNMENT / path.name)
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert code and all(cell["execution_count"] for cell in code), path.name
        errors = [output for cell in code for output in cell["outputs"] if output["output_type"] == "error"]
        assert not errors, (path.name, errors)


def test_what_each_check_said(course):
    """The solutions print a tick per check, for the visible and the grading cases; the stubs
    are 'not done yet'; the delegating functions are told that the exercise asks them to
    write it."""
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        said = {student: check_outputs(course, student, path.stem) for student in STUDENTS}
        for grade_id, text in said["solution"].items():
            assert text.startswith(f"\u2713 {grade_id}: ") and "Error" not in text, (path.name, text)
            assert f"\u2713 {grade_id}: grading cases: " in text, (path.name, text)
            assert "the exercise is not done yet" in said["stub"][grade_id], path.name
            if grade_id[len("check_"):] in DELEGATING:
                assert "your function calls the package's own" in said["delegating"][grade_id], path.name
                assert "This exercise asks you to write" in said["delegating"][grade_id], path.name


def test_the_feedback_names_each_planted_mistake(course):
    feedback = course / "feedback" / "mistake" / ASSIGNMENT
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        text = html.unescape((feedback / path.with_suffix(".html").name).read_text(encoding="utf-8"))
        for cell in read(path)["cells"]:
            if grading(cell).get("solution") and cell["cell_type"] == "code":
                words = MISTAKES[exercise_name(cell)][2]
                assert words in text, (path.name, words)


def test_the_student_versions_without_nbgrader_equal_nbgraders(course, tmp_path, capsys):
    """What a student sees: the cells, their sources and outputs, and which cells can be
    edited or deleted."""
    assert cli.main(["lessons", "--student", str(tmp_path)]) == 0
    def seen(notebook):
        return [(cell["cell_type"], source(cell), cell.get("outputs"), cell.get("execution_count"),
                 cell["metadata"].get("editable", True), cell["metadata"].get("deletable", True))
                for cell in notebook["cells"]]
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        ours, theirs = read(tmp_path / path.name), read(course / "release" / ASSIGNMENT / path.name)
        assert seen(ours) == seen(theirs), path.name
        assert ours["metadata"] == theirs["metadata"], path.name
