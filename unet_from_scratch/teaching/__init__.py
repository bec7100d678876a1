"""What a course needs around the lessons in ``lessons/``.

    exercises   the checkers of the lessons' exercises: each runs a student's function on
                its own cases and names the mistake when it is wrong
    student     the student versions of the notebooks: every solution replaced by a stub
                (``unet-scratch lessons --student OUT_DIR``)
"""
